"""The composition root: which adapter serves each port, built from the settings.

Nothing is built at import time. `build_container(settings)` is called once per process by an
entry point (the worker, the CLI); tests replace one port afterwards with
`container.register(Port, instance=fake)`, and the use cases, resolved lazily, pick it up.
The embedder, and the chunker that counts in its tokens, are built once per container, so a
model is loaded once per process; with `defer_model` only when something first uses the model,
so a command that never embeds (`ingest add`, `ingest status`) never loads one. The extractor
is built (and its parsing libraries imported) with the embedder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import punq
from redis import Redis
from sqlalchemy import Engine

from application.ports import (
    BlobStorage,
    Chunker,
    ChunkSearch,
    Clock,
    Embedder,
    EmbeddingCache,
    FinishAnnouncements,
    HeldVectors,
    IngestionTelemetry,
    JobQueue,
    TextExtractor,
    UnitOfWorkFactory,
)
from application.retry_policy import RetryPolicy
from application.usecases.ingestion import (
    FailCrashedAttempt,
    ProcessUploadedDocument,
    RecoverAbandonedWork,
    RequeueFailedDocuments,
    SubmitDocument,
)
from application.usecases.search import SearchChunks
from bootstrap.builders import (
    build_chunker,
    build_embedder,
    build_extractor,
    build_storage,
    job_policy,
    retry_policy,
)
from bootstrap.services import resolve_services, secret
from infrastructure.clock import SystemClock
from infrastructure.db import (
    PostgresFinishAnnouncements,
    SqlAlchemyChunkSearch,
    SqlAlchemyEmbeddingCache,
    SqlAlchemyUnitOfWorkFactory,
    make_engine,
    summarize_documents,
)
from infrastructure.held_vectors import RedisHeldVectors
from infrastructure.observability import (
    DocumentStats,
    IngestionMetrics,
    MetricsRelay,
    OtelIngestionTelemetry,
    Tracing,
    read_queue_stats,
    tracing_from_environment,
)
from infrastructure.queue import RqJobQueue, connect, quick_client
from infrastructure.settings import Settings

T = TypeVar("T")

#: How many abandoned jobs, or documents, one recovery pass settles at most.
RECOVERY_BATCH_SIZE = 100

#: How long a start-up or readiness probe, or opening a database connection, waits, in seconds.
PROBE_TIMEOUT_SECONDS = 2.0
#: How long a /metrics scrape waits for Redis (one attempt, no retries), in seconds.
QUICK_REDIS_TIMEOUT_SECONDS = 0.5
#: How long a /metrics scrape lets Postgres summarize the documents table, in seconds.
SCRAPE_COUNT_TIMEOUT_SECONDS = 0.5


class Container:
    """Which object serves each port or use case in this process, resolved by type.

    A typed face over `punq`: `resolve(Embedder)` is an `Embedder` to the type checker too.
    Registering a type again replaces what served it.
    """

    def __init__(self) -> None:
        self._services = punq.Container()

    def register(
        self,
        service: type[T],
        *,
        instance: T | None = None,
        factory: Callable[[], T] | None = None,
        once: bool = False,
    ) -> None:
        """Serve `service` with `instance`, or with what `factory` builds on each resolve (with
        `once`, on the first resolve only, serving that same object afterwards)."""
        if instance is not None:
            self._services.register(service, instance=instance)
        else:
            scope = punq.Scope.singleton if once else punq.Scope.transient
            self._services.register(service, factory=factory, scope=scope)

    def resolve(self, service: type[T]) -> T:
        """What serves `service`; raises `punq.MissingDependencyError` if nothing does."""
        served: T = self._services.resolve(service)
        return served


def build_container(settings: Settings, *, defer_model: bool = False) -> Container:
    """Register every port with its adapter, and the use cases, for `settings`.

    Embedded services are started first when DATABASE_URL or REDIS_URL is unset. Connections
    open lazily: building the container does not touch the network. The embedder (a model, for
    EMBEDDER=sentence-transformers) and the extractor are built here, so the first job finds
    them ready (and forked work horses inherit them), unless `defer_model`: then each is built
    on first use, and a local model is loaded only when something embeds or counts
    tokens (`ingest` commands that only submit never do, nor does a WORKER_MODE=pool worker
    process: its executor process does the work, with its own container).
    """
    settings = resolve_services(settings)
    container = Container()
    container.register(Settings, instance=settings)
    _register_connections(container, settings)
    _register_observability(container, settings)
    _register_adapters(container, settings, defer_model=defer_model)
    _register_use_cases(container, settings)
    if not defer_model:
        container.resolve(Embedder)
        container.resolve(TextExtractor)
    return container


# Registration ------------------------------------------------------------------------------


def _register_connections(container: Container, settings: Settings) -> None:
    engine = make_engine(secret(settings.database_url), connect_timeout=PROBE_TIMEOUT_SECONDS)
    container.register(Engine, instance=engine)
    container.register(Redis, instance=connect(secret(settings.redis_url)))


def _register_adapters(container: Container, settings: Settings, *, defer_model: bool) -> None:
    engine: Engine = container.resolve(Engine)
    container.register(Clock, instance=SystemClock())
    container.register(
        Embedder,
        factory=lambda: build_embedder(
            settings,
            container.resolve(Redis),
            container.resolve(IngestionTelemetry),
            defer_model=defer_model,
        ),
        once=True,
    )
    container.register(UnitOfWorkFactory, instance=SqlAlchemyUnitOfWorkFactory(engine))
    container.register(FinishAnnouncements, instance=PostgresFinishAnnouncements(engine))
    container.register(EmbeddingCache, instance=SqlAlchemyEmbeddingCache(engine))
    container.register(
        HeldVectors,
        instance=RedisHeldVectors(container.resolve(Redis), held_vectors_ttl(settings)),
    )
    container.register(
        ChunkSearch,
        instance=SqlAlchemyChunkSearch(engine, text_search_language=settings.text_search_language),
    )
    container.register(BlobStorage, instance=build_storage(settings))
    container.register(TextExtractor, factory=lambda: build_extractor(settings), once=True)
    container.register(
        Chunker, factory=lambda: build_chunker(settings, container.resolve(Embedder)), once=True
    )
    container.register(
        JobQueue,
        instance=RqJobQueue(
            container.resolve(Redis),
            settings.queue_name,
            job_policy(settings),
            consumed_queues=settings.queues,
        ),
    )


def held_vectors_ttl(settings: Settings) -> int:
    """How long vectors an interrupted attempt received are kept: the longest wait before a
    retry (RETRY_BACKOFF) plus the longest an attempt may hold its document (PROCESSING_LEASE)."""
    return max(settings.retry_backoff) + settings.processing_lease


def _register_observability(container: Container, settings: Settings) -> None:
    stats_redis = quick_client(container.resolve(Redis), QUICK_REDIS_TIMEOUT_SECONDS)
    engine: Engine = container.resolve(Engine)
    metrics = IngestionMetrics(
        queue_stats=lambda: read_queue_stats(stats_redis, settings.queues),
        document_stats=lambda: _document_stats(engine),
    )
    relay = MetricsRelay(metrics)
    tracing = tracing_from_environment()
    container.register(IngestionMetrics, instance=metrics)
    container.register(MetricsRelay, instance=relay)
    container.register(Tracing, instance=tracing)
    container.register(IngestionTelemetry, instance=OtelIngestionTelemetry(metrics, relay, tracing))


def _document_stats(engine: Engine) -> DocumentStats:
    summary = summarize_documents(engine, SCRAPE_COUNT_TIMEOUT_SECONDS)
    return DocumentStats(
        counts={status.value: count for status, count in summary.counts.items()},
        errors={(status.value, code): count for (status, code), count in summary.errors.items()},
        oldest_processing_started_at=summary.oldest_processing_started_at,
    )


def _register_use_cases(container: Container, settings: Settings) -> None:
    container.register(RetryPolicy, instance=retry_policy(settings))
    container.register(
        ProcessUploadedDocument,
        factory=lambda: ProcessUploadedDocument(
            uow_factory=container.resolve(UnitOfWorkFactory),
            storage=container.resolve(BlobStorage),
            extractor=container.resolve(TextExtractor),
            chunker=container.resolve(Chunker),
            embedder=container.resolve(Embedder),
            embedding_cache=container.resolve(EmbeddingCache),
            held_vectors=container.resolve(HeldVectors),
            clock=container.resolve(Clock),
            telemetry=container.resolve(IngestionTelemetry),
            max_file_bytes=settings.max_file_bytes,
            retry_policy=container.resolve(RetryPolicy),
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
        FailCrashedAttempt,
        factory=lambda: FailCrashedAttempt(
            uow_factory=container.resolve(UnitOfWorkFactory), clock=container.resolve(Clock)
        ),
    )
    container.register(
        RecoverAbandonedWork,
        factory=lambda: RecoverAbandonedWork(
            uow_factory=container.resolve(UnitOfWorkFactory),
            queue=container.resolve(JobQueue),
            clock=container.resolve(Clock),
            lease=timedelta(seconds=settings.processing_lease),
            interval=timedelta(seconds=settings.recovery_interval),
            retry_policy=container.resolve(RetryPolicy),
            batch_size=RECOVERY_BATCH_SIZE,
        ),
    )
    container.register(
        SearchChunks,
        factory=lambda: SearchChunks(
            search=container.resolve(ChunkSearch),
            embedder=container.resolve(Embedder),
            vector_weight=settings.hybrid_vector_weight,
            text_weight=settings.hybrid_text_weight,
        ),
    )
