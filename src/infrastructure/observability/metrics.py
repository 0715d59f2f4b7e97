"""The worker's metrics: OpenTelemetry instruments exported as Prometheus text.

Everything lives in a dedicated `prometheus_client.CollectorRegistry`, so `render()` shows
exactly these metrics, and several instances (tests, embedded use) never collide. Names follow
rq-exporter (`rq_jobs`, `rq_workers`) and celery-exporter (per-task counters and runtime
histograms). Labels carry bounded values only (queue, job function, outcome, stage, status,
state), never ids.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry, generate_latest

from infrastructure.observability.otel_internals import ForkQuietMeterProvider
from infrastructure.observability.queue_stats import QueueStats

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS_SECONDS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
JOB_DURATION = "ingestion_job_duration_seconds"
STAGE_DURATION = "ingestion_stage_duration_seconds"

_log = logging.getLogger(__name__)

QueueStatsReader = Callable[[], QueueStats]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DocumentStats:
    """The documents table as one scrape sees it: documents per status; those waiting for a
    retry or failed, per (status, error code); when the oldest running attempt started."""

    counts: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[tuple[str, str], int] = field(default_factory=dict)
    oldest_processing_started_at: datetime | None = None


DocumentStatsReader = Callable[[], DocumentStats]


class IngestionMetrics:
    """Owns the meter provider, its Prometheus reader and registry, and every instrument.

    Thread-safe: recording and rendering may happen on different threads. Recording methods
    never raise on behalf of the metrics backend. Once per render, `queue_stats` (optional) is
    read for `rq_jobs`, `rq_workers` and `rq_oldest_queued_job_age_seconds` (measured against
    `now`; 0 for an empty queue), and `document_stats` (optional) for
    `ingestion_stored_documents`, `ingestion_stored_document_errors` and
    `ingestion_oldest_processing_document_age_seconds`. If a reader fails, its gauges are simply
    absent from that render, so give them clients with short timeouts and no retries.
    """

    def __init__(
        self,
        *,
        queue_stats: QueueStatsReader | None = None,
        document_stats: DocumentStatsReader | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry
        )
        buckets = ExplicitBucketHistogramAggregation(DURATION_BUCKETS_SECONDS)
        self._provider = ForkQuietMeterProvider(
            metric_readers=[self._reader],
            views=[
                View(instrument_name=JOB_DURATION, aggregation=buckets),
                View(instrument_name=STAGE_DURATION, aggregation=buckets),
            ],
        )
        self._queue_stats = queue_stats
        self._document_stats = document_stats
        self._now = now
        self._render_lock = threading.Lock()
        self._snapshot = _Snapshot()  # what this render's gauges observe, read once
        self._create_instruments()

    def _create_instruments(self) -> None:
        meter = self._provider.get_meter("ingestion_worker")
        self._jobs = meter.create_counter(
            "ingestion_jobs", description="Jobs run, by queue, job function and outcome."
        )
        self._job_duration = meter.create_histogram(
            JOB_DURATION, unit="s", description="Wall time of a job, fork included."
        )
        self._stage_duration = meter.create_histogram(
            STAGE_DURATION, unit="s", description="Time spent in one pipeline stage."
        )
        self._documents = meter.create_counter(
            "ingestion_documents", description="Document attempts finished, by outcome."
        )
        self._chunks = meter.create_counter(
            "ingestion_chunks", description="Chunks produced by finished document attempts."
        )
        self._bytes = meter.create_counter(
            "ingestion_document", unit="By", description="Bytes of source files processed."
        )
        self._tokens = meter.create_counter(
            "ingestion_tokens", description="Tokens in the chunks produced by finished attempts."
        )
        self._cache_hits = meter.create_counter(
            "ingestion_embedding_cache_hits", description="Vectors reused from the cache."
        )
        self._cache_misses = meter.create_counter(
            "ingestion_embedding_cache_misses", description="Texts sent to the embedder."
        )
        self._throttled_seconds = meter.create_counter(
            "ingestion_embedding_rate_limit_wait",
            unit="s",
            description="Seconds embedding requests waited for the provider's shared rate limit "
            "or a pause its 429s asked for.",
        )
        self._rate_limited = meter.create_counter(
            "ingestion_embedding_rate_limited_responses",
            description="429 answers received from the embedding provider.",
        )
        self._executor_restarts = meter.create_counter(
            "ingestion_executor_restarts",
            description="Executor processes replaced (WORKER_MODE=pool), by reason: crash, "
            "timeout, max_rss, max_jobs.",
        )
        meter.create_observable_gauge(
            "rq_jobs", callbacks=[self._observe_jobs], description="RQ jobs by queue and status."
        )
        meter.create_observable_gauge(
            "rq_workers", callbacks=[self._observe_workers], description="RQ workers by state."
        )
        meter.create_observable_gauge(
            "rq_oldest_queued_job_age_seconds",
            callbacks=[self._observe_oldest_queued],
            unit="s",
            description="How long the job at the head of each non-empty queue has waited.",
        )
        meter.create_observable_gauge(
            "ingestion_stored_documents",
            callbacks=[self._observe_documents],
            description="Documents in the database, by status.",
        )
        meter.create_observable_gauge(
            "ingestion_stored_document_errors",
            callbacks=[self._observe_document_errors],
            description="Documents waiting for a retry (queued) or failed, by last error code.",
        )
        meter.create_observable_gauge(
            "ingestion_oldest_processing_document_age_seconds",
            callbacks=[self._observe_oldest_processing],
            unit="s",
            description="How long the longest-running attempt of a processing document has run.",
        )

    def record_job(self, *, queue: str, job_name: str, outcome: str, seconds: float) -> None:
        """Count one finished job and observe its duration."""
        labels = {"queue": queue, "job_name": job_name}
        self._jobs.add(1, {**labels, "outcome": outcome})
        self._job_duration.record(max(seconds, 0.0), labels)

    def record_stage(self, stage: str, seconds: float) -> None:
        """Observe the duration of one pipeline stage."""
        self._stage_duration.record(max(seconds, 0.0), {"stage": stage})

    def record_document(self, *, outcome: str, size_bytes: int, chunks: int, tokens: int) -> None:
        """Count one finished document attempt and what it produced."""
        self._documents.add(1, {"outcome": outcome})
        self._bytes.add(max(size_bytes, 0))
        self._chunks.add(max(chunks, 0))
        self._tokens.add(max(tokens, 0))

    def record_cache(self, *, hits: int, misses: int) -> None:
        """Count embedding cache hits and misses."""
        self._cache_hits.add(max(hits, 0))
        self._cache_misses.add(max(misses, 0))

    def record_throttling(self, *, waited_seconds: float, rejections: int) -> None:
        """Count seconds waited for the embedding provider's rate limit, and its 429s."""
        self._throttled_seconds.add(max(waited_seconds, 0.0))
        self._rate_limited.add(max(rejections, 0))

    def record_executor_restart(self, reason: str) -> None:
        """Count one executor process replaced, and why (`crash`, `timeout`, `max_rss`,
        `max_jobs`)."""
        self._executor_restarts.add(1, {"reason": reason})

    def render(self) -> bytes:
        """The current metrics in the Prometheus text format (`PROMETHEUS_CONTENT_TYPE`).

        Queue stats and document counts are read once per render, for all their gauges."""
        with self._render_lock:
            self._snapshot = _Snapshot(
                queue=_read_or_none(self._queue_stats, "queue counts"),
                documents=_read_or_none(self._document_stats, "document counts"),
            )
            try:
                return generate_latest(self.registry)
            finally:
                self._snapshot = _Snapshot()

    def shutdown(self) -> None:
        """Detach the reader from the registry and stop the provider."""
        self._provider.shutdown()

    def _observe_jobs(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.queue
        return [
            Observation(count, {"queue": queue, "status": status})
            for (queue, status), count in (stats.jobs.items() if stats else ())
        ]

    def _observe_workers(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.queue
        return [
            Observation(count, {"state": state})
            for state, count in (stats.workers.items() if stats else ())
        ]

    def _observe_oldest_queued(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.queue
        if stats is None:
            return []
        now = self._now()
        empty = [
            queue
            for (queue, status), count in stats.jobs.items()
            if status == "queued" and not count
        ]
        return [Observation(0.0, {"queue": queue}) for queue in empty] + [
            Observation(max((now - enqueued_at).total_seconds(), 0.0), {"queue": queue})
            for queue, enqueued_at in stats.head_enqueued_at.items()
        ]

    def _observe_documents(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.documents
        return [
            Observation(count, {"status": status})
            for status, count in (stats.counts.items() if stats else ())
        ]

    def _observe_document_errors(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.documents
        return [
            Observation(count, {"status": status, "error_code": code})
            for (status, code), count in (stats.errors.items() if stats else ())
        ]

    def _observe_oldest_processing(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._snapshot.documents
        if stats is None or stats.oldest_processing_started_at is None:
            return []
        age = (self._now() - stats.oldest_processing_started_at).total_seconds()
        return [Observation(max(age, 0.0))]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What one render's gauges observe; None where nothing was read."""

    queue: QueueStats | None = None
    documents: DocumentStats | None = None


def _read_or_none(reader: Callable[[], T] | None, what: str) -> T | None:
    if reader is None:
        return None
    try:
        return reader()
    except Exception as error:  # a scrape must succeed while Redis or Postgres is down
        _log.warning("could not read %s: %s", what, type(error).__name__)
        return None
