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
from collections.abc import Callable, Iterable

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


class IngestionMetrics:
    """Owns the meter provider, its Prometheus reader and registry, and every instrument.

    Thread-safe: recording and rendering may happen on different threads. Recording methods
    never raise on behalf of the metrics backend. `queue_stats` (optional) is called once per
    render to observe `rq_jobs` and `rq_workers`; if it fails those gauges are simply absent, so
    give it a Redis client with short timeouts and no retries.
    """

    def __init__(self, *, queue_stats: QueueStatsReader | None = None) -> None:
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
        self._stats_lock = threading.Lock()
        self._handed_over: QueueStats | None = None  # rq_jobs' read, reused by rq_workers
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
        meter.create_observable_gauge(
            "rq_jobs", callbacks=[self._observe_jobs], description="RQ jobs by queue and status."
        )
        meter.create_observable_gauge(
            "rq_workers", callbacks=[self._observe_workers], description="RQ workers by state."
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

    def render(self) -> bytes:
        """The current metrics in the Prometheus text format (`PROMETHEUS_CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Detach the reader from the registry and stop the provider."""
        self._provider.shutdown()

    def _observe_jobs(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._read_stats()
        with self._stats_lock:
            self._handed_over = stats
        return [
            Observation(count, {"queue": queue, "status": status})
            for (queue, status), count in (stats.jobs.items() if stats else ())
        ]

    def _observe_workers(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._stats_lock:
            stats, self._handed_over = self._handed_over, None
        if stats is None:
            stats = self._read_stats()
        return [
            Observation(count, {"state": state})
            for state, count in (stats.workers.items() if stats else ())
        ]

    def _read_stats(self) -> QueueStats | None:
        if self._queue_stats is None:
            return None
        try:
            return self._queue_stats()
        except Exception as error:  # a scrape must succeed while Redis is down
            _log.warning("could not read queue counts: %s", type(error).__name__)
            return QueueStats()  # handed over empty, so rq_workers does not try again
