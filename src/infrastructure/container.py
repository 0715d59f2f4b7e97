"""The composition root: which adapter serves each port, built from the settings.

Nothing is built at import time. `build_container(settings)` is called once per process by an
entry point (the worker, the CLI); tests replace one port afterwards with
`container.register(Port, instance=fake)`, and the use cases, resolved lazily, pick it up.
The embedder is built once per container, so a sentence-transformers model is loaded in the
worker's parent process before any work horse forks. Adapters with heavy dependencies (torch,
httpx, boto3) are imported only when the settings choose them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import punq
from redis import Redis
from sqlalchemy import Engine

from application.errors import DependencyUnavailable
from application.ports import (
    BlobStorage,
    Chunker,
    Clock,
    Embedder,
    EmbeddingCache,
    IngestionTelemetry,
    JobQueue,
    TextExtractor,
    UnitOfWorkFactory,
)
from application.usecases.ingestion import (
    ProcessUploadedDocument,
    RecoverAbandonedDocuments,
    RequeueFailedDocuments,
    ResumeAbandonedJobs,
    SubmitDocument,
)
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.db import (
    EmbeddingDimensionMismatch,
    MissingPgvector,
    SchemaOutOfDate,
    SqlAlchemyEmbeddingCache,
    SqlAlchemyUnitOfWorkFactory,
    make_engine,
    migrations,
)
from infrastructure.db import ping as ping_database
from infrastructure.embeddings import (
    HashingEmbedder,
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)
from infrastructure.extraction import ExtractionLimits, SniffingTextExtractor
from infrastructure.memory import SystemClock
from infrastructure.observability import (
    IngestionMetrics,
    MetricsRelay,
    OtelIngestionTelemetry,
    masked_url,
    read_queue_stats,
)
from infrastructure.queue import JobPolicy, RqJobQueue, connect, quick_client
from infrastructure.queue import ping as ping_redis
from infrastructure.settings import EmbedderKind, Settings, StorageBackend
from infrastructure.storage import LocalBlobStorage

_log = logging.getLogger(__name__)

#: How long a start-up or readiness probe waits for a dependency, in seconds.
PROBE_TIMEOUT_SECONDS = 2.0
#: How long /readyz and a /metrics scrape wait for Redis (one attempt, no retries), in seconds.
QUICK_REDIS_TIMEOUT_SECONDS = 0.5


class StartupError(RuntimeError):
    """A dependency or setting prevents the process from starting; the message names it."""


def resolve_services(settings: Settings) -> Settings:
    """`settings` with DATABASE_URL and REDIS_URL filled in, starting the embedded default
    (under DATA_DIR) for whichever is unset. Raises `StartupError` if one cannot start."""
    updates: dict[str, object] = {}
    if settings.redis_url is None:
        updates["redis_url"] = _start_embedded_redis(settings)
    if settings.database_url is None:
        updates["database_url"] = _start_embedded_postgres(settings)
    return settings.model_copy(update=updates) if updates else settings


def build_container(settings: Settings) -> punq.Container:
    """Register every port with its adapter, and the use cases, for `settings`.

    Embedded services are started first when DATABASE_URL or REDIS_URL is unset. Connections
    open lazily: building the container does not touch the network.
    """
    settings = resolve_services(settings)
    container = punq.Container()
    container.register(Settings, instance=settings)
    _register_connections(container, settings)
    _register_adapters(container, settings)
    _register_observability(container, settings)
    _register_use_cases(container, settings)
    return container


def check_startup(container: punq.Container) -> None:
    """Check, in order, Redis, the database, the schema revision and the vector dimension,
    then compile the statements a job runs (so forked work horses inherit them).

    Raises `StartupError` naming the setting or dependency at fault.
    """
    settings: Settings = container.resolve(Settings)
    redis: Redis = container.resolve(Redis)
    engine: Engine = container.resolve(Engine)
    try:
        ping_redis(redis, PROBE_TIMEOUT_SECONDS)
    except DependencyUnavailable as e:
        raise StartupError(f"REDIS_URL: {masked_url(settings.redis_url)}: {e}") from e
    try:
        ping_database(engine, PROBE_TIMEOUT_SECONDS)
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {masked_url(settings.database_url)}: {e}") from e
    _check_schema(engine, container.resolve(Embedder))
    _warm_up(container, settings)


def readiness_checks(container: punq.Container) -> dict[str, Callable[[], None]]:
    """Named probes for `/readyz`: each returns or raises within the probe timeout."""
    redis: Redis = container.resolve(Redis)
    engine: Engine = container.resolve(Engine)
    return {
        "db": lambda: ping_database(engine, PROBE_TIMEOUT_SECONDS),
        "redis": lambda: ping_redis(redis, QUICK_REDIS_TIMEOUT_SECONDS),
    }


def release_connections(container: punq.Container) -> None:
    """Close pooled database and Redis connections (before forking worker processes)."""
    container.resolve(Engine).dispose()
    container.resolve(Redis).connection_pool.disconnect()


def migrate(settings: Settings) -> str:
    """Bring the database schema to head; return the head revision."""
    settings = resolve_services(settings)
    url = _secret(settings.database_url)
    try:
        migrations.upgrade(url, settings.embedding_dimension)
    except (DependencyUnavailable, MissingPgvector, EmbeddingDimensionMismatch) as e:
        raise StartupError(f"DATABASE_URL: {masked_url(url)}: {e}") from e
    return migrations.head_revision()


# Registration ------------------------------------------------------------------------------


def _register_connections(container: punq.Container, settings: Settings) -> None:
    engine = make_engine(_secret(settings.database_url), connect_timeout=PROBE_TIMEOUT_SECONDS)
    container.register(Engine, instance=engine)
    container.register(Redis, instance=connect(_secret(settings.redis_url)))


def _register_adapters(container: punq.Container, settings: Settings) -> None:
    engine: Engine = container.resolve(Engine)
    embedder = build_embedder(settings)
    container.register(Clock, instance=SystemClock())
    container.register(Embedder, instance=embedder)
    container.register(
        UnitOfWorkFactory,
        instance=SqlAlchemyUnitOfWorkFactory(engine, embedding_dimension=embedder.dimension),
    )
    container.register(EmbeddingCache, instance=SqlAlchemyEmbeddingCache(engine))
    container.register(BlobStorage, instance=build_storage(settings))
    container.register(TextExtractor, instance=build_extractor(settings))
    container.register(Chunker, instance=build_chunker(settings, embedder))
    container.register(
        JobQueue,
        instance=RqJobQueue(
            container.resolve(Redis),
            settings.queue_name,
            job_policy(settings),
            consumed_queues=settings.queues,
        ),
    )


def _register_observability(container: punq.Container, settings: Settings) -> None:
    stats_redis = quick_client(container.resolve(Redis), QUICK_REDIS_TIMEOUT_SECONDS)
    metrics = IngestionMetrics(queue_stats=lambda: read_queue_stats(stats_redis, settings.queues))
    relay = MetricsRelay(metrics)
    container.register(IngestionMetrics, instance=metrics)
    container.register(MetricsRelay, instance=relay)
    container.register(IngestionTelemetry, instance=OtelIngestionTelemetry(metrics, relay))


def _register_use_cases(container: punq.Container, settings: Settings) -> None:
    container.register(
        ProcessUploadedDocument,
        factory=lambda: ProcessUploadedDocument(
            uow_factory=container.resolve(UnitOfWorkFactory),
            storage=container.resolve(BlobStorage),
            extractor=container.resolve(TextExtractor),
            chunker=container.resolve(Chunker),
            embedder=container.resolve(Embedder),
            embedding_cache=container.resolve(EmbeddingCache),
            clock=container.resolve(Clock),
            telemetry=container.resolve(IngestionTelemetry),
            max_file_bytes=settings.max_file_bytes,
            max_attempts=settings.max_attempts,
        ),
    )
    container.register(
        SubmitDocument,
        factory=lambda: SubmitDocument(
            uow_factory=container.resolve(UnitOfWorkFactory),
            storage=container.resolve(BlobStorage),
            queue=container.resolve(JobQueue),
            clock=container.resolve(Clock),
            max_file_bytes=settings.max_file_bytes,
        ),
    )
    container.register(
        RequeueFailedDocuments,
        factory=lambda: RequeueFailedDocuments(
            uow_factory=container.resolve(UnitOfWorkFactory),
            queue=container.resolve(JobQueue),
            clock=container.resolve(Clock),
        ),
    )
    container.register(
        RecoverAbandonedDocuments,
        factory=lambda: RecoverAbandonedDocuments(
            uow_factory=container.resolve(UnitOfWorkFactory),
            queue=container.resolve(JobQueue),
            clock=container.resolve(Clock),
            lease=timedelta(seconds=settings.processing_lease),
            max_attempts=settings.max_attempts,
        ),
    )
    container.register(
        ResumeAbandonedJobs,
        factory=lambda: ResumeAbandonedJobs(
            uow_factory=container.resolve(UnitOfWorkFactory),
            queue=container.resolve(JobQueue),
            clock=container.resolve(Clock),
            lease=timedelta(seconds=settings.processing_lease),
        ),
    )


# Adapter builders --------------------------------------------------------------------------


def job_policy(settings: Settings) -> JobPolicy:
    """How RQ times out, keeps and retries the jobs we enqueue."""
    return JobPolicy(
        job_timeout=settings.job_timeout,
        result_ttl=settings.result_ttl,
        failure_ttl=settings.failure_ttl,
        retry_intervals=tuple(settings.retry_intervals()),
    )


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder, ready to use (a model is loaded here, once per process)."""
    if settings.embedder is EmbedderKind.SENTENCE_TRANSFORMERS:
        return _sentence_transformer(settings)
    if settings.embedder is EmbedderKind.OPENAI:
        from infrastructure.embeddings import OpenAICompatibleEmbedder  # loads httpx

        return OpenAICompatibleEmbedder(
            str(settings.embedding_base_url),
            str(settings.embedding_model),
            api_key=_secret(settings.embedding_api_key) if settings.embedding_api_key else None,
            dimension=settings.embedding_dimension,
            batch_size=settings.embedding_batch_size,
            timeout=settings.embedding_timeout,
        )
    return HashingEmbedder(dimension=settings.embedding_dimension)


def build_storage(settings: Settings) -> BlobStorage:
    """The configured blob storage."""
    if settings.storage_backend is StorageBackend.S3:
        from infrastructure.storage import S3BlobStorage, make_s3_client  # loads boto3

        client = make_s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id,
            secret_key=_secret(settings.s3_secret_access_key)
            if settings.s3_secret_access_key
            else None,
        )
        return S3BlobStorage(str(settings.s3_bucket), client=client)
    settings.storage_root.mkdir(parents=True, exist_ok=True)
    return LocalBlobStorage(settings.storage_root)


def build_extractor(settings: Settings) -> TextExtractor:
    """The sniffing extractor, held to the configured size, page and character limits."""
    limits = ExtractionLimits(
        max_bytes=settings.max_file_bytes,
        max_pages=settings.max_pages,
        max_chars=settings.max_chars,
    )
    return SniffingTextExtractor(limits=limits)


def build_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    """A chunker counting in the embedder's own tokens, never past what it reads of one text."""
    max_tokens = chunk_token_limit(settings, embedder)
    return RecursiveTokenChunker(
        max_tokens=max_tokens,
        overlap_tokens=min(settings.chunk_overlap_tokens, max_tokens // 2),
        token_counter=embedder.token_counter,
    )


def chunk_token_limit(settings: Settings, embedder: Embedder) -> int:
    """CHUNK_MAX_TOKENS, capped at the embedder's input limit when it has one."""
    limit = embedder.max_input_tokens
    return settings.chunk_max_tokens if limit is None else min(settings.chunk_max_tokens, limit)


def _check_schema(engine: Engine, embedder: Embedder) -> None:
    try:
        migrations.verify_schema(engine, embedder.dimension)
    except SchemaOutOfDate as e:
        current = migrations.schema_revision(engine) or "none"
        raise StartupError(
            f"DATABASE_URL: schema is at {current}, head is {migrations.head_revision()}: "
            "run `ingest migrate`"
        ) from e
    except EmbeddingDimensionMismatch as e:
        raise StartupError(f"EMBEDDING_DIMENSION: {e}") from e
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {e}") from e


def _warm_up(container: punq.Container, settings: Settings) -> None:
    uow_factory = container.resolve(UnitOfWorkFactory)
    if not isinstance(uow_factory, SqlAlchemyUnitOfWorkFactory):
        return
    try:
        uow_factory.warm_up()
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {masked_url(settings.database_url)}: {e}") from e


def _sentence_transformer(settings: Settings) -> Embedder:
    path = settings.embedding_model_path or bundled_minilm_path()
    if path is None:
        raise StartupError(
            "EMBEDDING_MODEL_PATH: unset, and the bundled all-MiniLM-L6-v2 is not installed"
        )
    try:
        return SentenceTransformerEmbedder(str(path), batch_size=settings.embedding_batch_size)
    except (FileNotFoundError, ValueError) as e:
        raise StartupError(f"EMBEDDING_MODEL_PATH: {e}") from e


def _start_embedded_redis(settings: Settings) -> str:
    from infrastructure.local.redis import EmbeddedRedisError, start_embedded_redis

    try:
        embedded = start_embedded_redis(settings.data_dir)
    except EmbeddedRedisError as e:
        raise StartupError(f"REDIS_URL: unset, and {e}") from e
    how = "started" if embedded.started_here else "attached to"
    _log.info("REDIS_URL unset: %s the embedded Redis in %s", how, embedded.directory)
    return embedded.url


def _start_embedded_postgres(settings: Settings) -> str:
    from infrastructure.local.postgres import (
        EmbeddedPostgresUnavailable,
        start_embedded_postgres,
    )

    directory = (settings.data_dir / "postgres").resolve()
    try:
        dsn = start_embedded_postgres(directory)
    except EmbeddedPostgresUnavailable as e:
        raise StartupError(f"DATABASE_URL: unset, and {e}") from e
    _log.info("DATABASE_URL unset: using the embedded Postgres in %s", directory)
    return dsn


def _secret(value: object) -> str:
    if value is None:
        raise StartupError("a service URL was not resolved")
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)


__all__ = [
    "PROBE_TIMEOUT_SECONDS",
    "QUICK_REDIS_TIMEOUT_SECONDS",
    "StartupError",
    "build_chunker",
    "build_container",
    "build_embedder",
    "build_extractor",
    "build_storage",
    "check_startup",
    "chunk_token_limit",
    "job_policy",
    "migrate",
    "readiness_checks",
    "release_connections",
    "resolve_services",
]
