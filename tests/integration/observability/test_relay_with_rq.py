"""The relay around RQ's own forking `Worker`: what a work horse measures reaches /metrics."""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from application.ports import Stage
from infrastructure.observability import IngestionMetrics, MetricsRelay, OtelIngestionTelemetry
from tests.unit.observability.metrics_text import sample

_telemetry: OtelIngestionTelemetry | None = None


def measured_job(chunks: int) -> int:
    """Runs in the work horse: the telemetry it uses was created in the worker process."""
    assert _telemetry is not None
    with _telemetry.stage(Stage.EMBED):
        _telemetry.embedding_cache_used(hits=0, misses=chunks)
    _telemetry.document_processed(outcome="ready", size_bytes=100, chunks=chunks, tokens=10)
    return chunks


class RelayingWorker(Worker):
    """An RQ worker that opens the relay around each job and records the job in the parent."""

    relay: MetricsRelay
    metrics: IngestionMetrics

    def execute_job(self, job: Any, queue: Queue) -> None:
        started = time.perf_counter()
        with self.relay.around_job():
            super().execute_job(job, queue)
        outcome = "succeeded" if job.get_status(refresh=True) == "finished" else "failed"
        self.metrics.record_job(
            queue=queue.name,
            job_name=job.func_name.rsplit(".", 1)[-1],
            outcome=outcome,
            seconds=time.perf_counter() - started,
        )


def test_forking_rq_worker_relays_horse_measurements(redis_client: Redis) -> None:
    global _telemetry
    metrics = IngestionMetrics()
    relay = MetricsRelay(metrics)
    _telemetry = OtelIngestionTelemetry(metrics, relay)
    queue = Queue("documents", connection=redis_client, serializer=JSONSerializer)
    for chunks in (3, 4):
        queue.enqueue(measured_job, chunks)
    worker = RelayingWorker([queue], connection=redis_client, serializer=JSONSerializer)
    worker.relay, worker.metrics = relay, metrics

    worker.work(burst=True)

    text = metrics.render().decode()
    job = {"queue": "documents", "job_name": "measured_job"}
    assert sample(text, "ingestion_jobs_total", **job, outcome="succeeded") == 2
    assert sample(text, "ingestion_stage_duration_seconds_count", stage="embed") == 2
    assert sample(text, "ingestion_chunks_total") == 7
    assert sample(text, "ingestion_embedding_cache_misses_total") == 7
    metrics.shutdown()
