"""One builder per configurable adapter: which one serves a port, made from the settings.

Adapters with heavy dependencies (torch, httpx, boto3) are imported only when the settings
choose them, and the extractors (PDFium, python-docx and lxml, selectolax, markdown-it) only
when one is built: `ingest` commands, which never extract, do not pay their imports.
"""

from __future__ import annotations

from redis import Redis

from application.ports import BlobStorage, Chunker, Embedder, IngestionTelemetry, TextExtractor
from application.retry_policy import RetryPolicy
from bootstrap.errors import StartupError
from bootstrap.services import secret
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.embeddings import (
    DeferredEmbedder,
    SentenceTransformerEmbedder,
    bundled_minilm_path,
    stated_dimension,
)
from infrastructure.queue import JobPolicy
from infrastructure.settings import EmbedderKind, Settings, StorageBackend
from infrastructure.storage import LocalBlobStorage


def retry_policy(settings: Settings) -> RetryPolicy:
    """MAX_ATTEMPTS attempts per document, RETRY_BACKOFF between them."""
    return RetryPolicy(max_attempts=settings.max_attempts, backoff=settings.retry_backoff)


def job_policy(settings: Settings) -> JobPolicy:
    """How RQ times out, keeps and retries the jobs we enqueue."""
    return JobPolicy(
        job_timeout=settings.job_timeout,
        result_ttl=settings.result_ttl,
        failure_ttl=settings.failure_ttl,
        retry_intervals=retry_policy(settings).retry_delays(),
    )


def build_embedder(
    settings: Settings,
    redis: Redis | None = None,
    telemetry: IngestionTelemetry | None = None,
    *,
    defer_model: bool = False,
) -> Embedder:
    """The configured embedder, ready to use: a local model is loaded here, once per process,
    or with `defer_model` on first use (its dimension read from its files until then).

    A remote embedder shares its provider's rate limit through `redis` (every worker on it;
    without one, within this process only) and reports its waits to `telemetry`."""
    if settings.embedder is EmbedderKind.SENTENCE_TRANSFORMERS:
        if defer_model:
            return _deferred_sentence_transformer(settings)
        return _sentence_transformer(settings)
    if settings.embedder is EmbedderKind.OPENAI:
        return _openai_compatible(settings, redis, telemetry)
    from infrastructure.embeddings import HashingEmbedder  # loads numpy

    return HashingEmbedder(dimension=settings.embedding_dimension)


#: The share of JOB_TIMEOUT one embedding call may spend waiting for the provider's rate limit
#: before the document is deferred (the rest is for the requests and the write).
THROTTLE_SHARE_OF_JOB_TIMEOUT = 0.5


def _openai_compatible(
    settings: Settings, redis: Redis | None, telemetry: IngestionTelemetry | None
) -> Embedder:
    from infrastructure.embeddings.openai_compatible import (  # loads httpx
        OpenAICompatibleEmbedder,
        RequestLimits,
    )
    from infrastructure.rate_limits import Budgets, InMemoryRateLimiter, RedisRateLimiter

    base_url, model = str(settings.embedding_base_url), str(settings.embedding_model)
    budgets = Budgets(settings.embedding_requests_per_minute, settings.embedding_tokens_per_minute)
    provider = f"{base_url.rstrip('/')}|{model}"
    limiter = (
        RedisRateLimiter(redis, provider, budgets)
        if redis is not None
        else InMemoryRateLimiter(provider, budgets)
    )
    max_tokens = settings.embedding_request_max_tokens
    if settings.embedding_tokens_per_minute is not None:
        max_tokens = min(max_tokens, settings.embedding_tokens_per_minute)
    return OpenAICompatibleEmbedder(
        base_url,
        model,
        api_key=secret(settings.embedding_api_key) if settings.embedding_api_key else None,
        dimension=settings.embedding_dimension,
        limits=RequestLimits(
            max_inputs=settings.embedding_request_max_inputs,
            max_tokens=max_tokens,
            concurrency=settings.embedding_concurrency,
        ),
        max_input_tokens=settings.embedding_max_input_tokens,
        timeout=settings.embedding_timeout,
        rate_limiter=limiter,
        max_throttle_wait=settings.job_timeout * THROTTLE_SHARE_OF_JOB_TIMEOUT,
        telemetry=telemetry,
    )


def build_storage(settings: Settings) -> BlobStorage:
    """The configured blob storage."""
    if settings.storage_backend is StorageBackend.S3:
        from infrastructure.storage import S3BlobStorage, make_s3_client  # loads boto3

        client = make_s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id,
            secret_key=secret(settings.s3_secret_access_key)
            if settings.s3_secret_access_key
            else None,
        )
        return S3BlobStorage(str(settings.s3_bucket), client=client)
    settings.storage_root.mkdir(parents=True, exist_ok=True)
    return LocalBlobStorage(settings.storage_root)


def build_extractor(settings: Settings) -> TextExtractor:
    """The sniffing extractor, held to the configured size, page and character limits."""
    from infrastructure.extraction import ExtractionLimits, SniffingTextExtractor

    limits = ExtractionLimits(
        max_bytes=settings.max_file_bytes,
        max_pages=settings.max_pages,
        max_chars=settings.max_chars,
    )
    return SniffingTextExtractor(limits=limits)


def build_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    """A chunker counting in the embedder's own tokens, never past what it reads of one text
    (context line included, with EMBED_CONTEXT)."""
    max_tokens = chunk_token_limit(settings, embedder)
    return RecursiveTokenChunker(
        max_tokens=max_tokens,
        overlap_tokens=min(settings.chunk_overlap_tokens, max_tokens // 2),
        token_counter=embedder.token_counter,
        embed_context=settings.embed_context,
    )


def chunk_token_limit(settings: Settings, embedder: Embedder) -> int:
    """CHUNK_MAX_TOKENS, capped at the embedder's input limit when it has one."""
    limit = embedder.max_input_tokens
    return settings.chunk_max_tokens if limit is None else min(settings.chunk_max_tokens, limit)


def _deferred_sentence_transformer(settings: Settings) -> Embedder:
    path = _model_path(settings)
    try:
        dimension = stated_dimension(path)
    except ValueError as e:
        raise StartupError(
            f"EMBEDDING_MODEL_PATH: {e}; the worker reads the dimension from the model's files "
            "with WORKER_MODE=pool, so use WORKER_MODE=inline for this model"
        ) from e
    return DeferredEmbedder(dimension, lambda: _sentence_transformer(settings))


def _model_path(settings: Settings) -> str:
    path = settings.embedding_model_path or bundled_minilm_path()
    if path is None:
        raise StartupError(
            "EMBEDDING_MODEL_PATH: unset, and the bundled all-MiniLM-L6-v2 is not installed"
        )
    return str(path)


def _sentence_transformer(settings: Settings) -> Embedder:
    path = _model_path(settings)
    try:
        return SentenceTransformerEmbedder(
            str(path), batch_size=settings.embedding_batch_size, threads=settings.model_threads
        )
    except (FileNotFoundError, ValueError) as e:
        raise StartupError(f"EMBEDDING_MODEL_PATH: {e}") from e
