from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.observability import DocumentStats, IngestionMetrics, QueueStats
from tests.unit.observability.metrics_text import families, sample


@pytest.fixture
def metrics() -> Iterator[IngestionMetrics]:
    instance = IngestionMetrics(
        queue_stats=lambda: QueueStats(
            jobs={("documents", "queued"): 4, ("documents", "failed"): 1},
            workers={"idle": 2, "busy": 1},
        )
    )
    yield instance
    instance.shutdown()


def test_exposes_every_family_with_its_prometheus_type(metrics: IngestionMetrics) -> None:
    metrics.record_job(queue="documents", job_name="process_document_job", outcome="ok", seconds=1)
    metrics.record_stage("embed", 0.2)
    metrics.record_document(outcome="ready", size_bytes=10, chunks=1, tokens=5)
    metrics.record_cache(hits=1, misses=1)
    metrics.record_executor_restart("crash")

    assert families(metrics) == {
        "ingestion_jobs": "counter",
        "ingestion_job_duration_seconds": "histogram",
        "ingestion_stage_duration_seconds": "histogram",
        "ingestion_documents": "counter",
        "ingestion_document_bytes": "counter",
        "ingestion_chunks": "counter",
        "ingestion_tokens": "counter",
        "ingestion_embedding_cache_hits": "counter",
        "ingestion_embedding_cache_misses": "counter",
        "ingestion_executor_restarts": "counter",
        "rq_jobs": "gauge",
        "rq_workers": "gauge",
    }


def test_jobs_are_counted_by_queue_job_and_outcome_with_durations(
    metrics: IngestionMetrics,
) -> None:
    job = {"queue": "documents", "job_name": "process_document_job"}
    metrics.record_job(**job, outcome="succeeded", seconds=0.3)
    metrics.record_job(**job, outcome="succeeded", seconds=0.7)
    metrics.record_job(**job, outcome="failed", seconds=2.0)

    assert sample(metrics, "ingestion_jobs_total", **job, outcome="succeeded") == 2
    assert sample(metrics, "ingestion_jobs_total", **job, outcome="failed") == 1
    assert sample(metrics, "ingestion_job_duration_seconds_count", **job) == 3
    assert sample(metrics, "ingestion_job_duration_seconds_sum", **job) == pytest.approx(3.0)
    assert sample(metrics, "ingestion_job_duration_seconds_bucket", **job, le="1.0") == 2


def test_documents_chunks_bytes_tokens_and_cache_add_up(metrics: IngestionMetrics) -> None:
    metrics.record_document(outcome="ready", size_bytes=1000, chunks=4, tokens=800)
    metrics.record_document(outcome="ready", size_bytes=500, chunks=2, tokens=300)
    metrics.record_document(outcome="corrupt_document", size_bytes=50, chunks=0, tokens=0)
    metrics.record_cache(hits=3, misses=5)
    metrics.record_cache(hits=1, misses=0)

    assert sample(metrics, "ingestion_documents_total", outcome="ready") == 2
    assert sample(metrics, "ingestion_documents_total", outcome="corrupt_document") == 1
    assert sample(metrics, "ingestion_document_bytes_total") == 1550
    assert sample(metrics, "ingestion_chunks_total") == 6
    assert sample(metrics, "ingestion_tokens_total") == 1100
    assert sample(metrics, "ingestion_embedding_cache_hits_total") == 4
    assert sample(metrics, "ingestion_embedding_cache_misses_total") == 5


def test_rate_limit_waits_and_429s_add_up(metrics: IngestionMetrics) -> None:
    metrics.record_throttling(waited_seconds=1.5, rejections=0)
    metrics.record_throttling(waited_seconds=0.25, rejections=2)

    assert sample(metrics, "ingestion_embedding_rate_limit_wait_seconds_total") == 1.75
    assert sample(metrics, "ingestion_embedding_rate_limited_responses_total") == 2


def test_queue_and_worker_gauges_come_from_the_stats_reader(metrics: IngestionMetrics) -> None:
    assert sample(metrics, "rq_jobs", queue="documents", status="queued") == 4
    assert sample(metrics, "rq_jobs", queue="documents", status="failed") == 1
    assert sample(metrics, "rq_workers", state="idle") == 2
    assert sample(metrics, "rq_workers", state="busy") == 1


def test_a_failing_stats_reader_leaves_the_rest_of_the_scrape_intact() -> None:
    def unreachable() -> QueueStats:
        raise ConnectionError("redis://:secret@cache refused")

    metrics = IngestionMetrics(queue_stats=unreachable)
    metrics.record_stage("read", 0.01)

    rendered = families(metrics)

    assert "ingestion_stage_duration_seconds" in rendered and "rq_jobs" not in rendered
    metrics.shutdown()


def test_labels_are_bounded_names_and_instances_do_not_share_state(
    metrics: IngestionMetrics,
) -> None:
    other = IngestionMetrics()
    metrics.record_stage("chunk", 0.1)

    labels = {
        key
        for family in text_string_to_metric_families(metrics.render().decode())
        for found in family.samples
        for key in found.labels
    }

    assert labels <= {"queue", "job_name", "outcome", "stage", "status", "state", "le"}
    assert "ingestion_stage_duration_seconds" not in families(other)
    assert REGISTRY.get_sample_value("ingestion_stage_duration_seconds_count") is None
    other.shutdown()


def test_one_render_reads_queue_stats_once_for_both_gauges() -> None:
    reads: list[int] = []

    def counting_reader() -> QueueStats:
        reads.append(1)
        return QueueStats(jobs={("documents", "queued"): 1}, workers={"idle": 1})

    metrics = IngestionMetrics(queue_stats=counting_reader)

    text = metrics.render().decode()

    assert len(reads) == 1
    assert sample(text, "rq_jobs", queue="documents", status="queued") == 1
    assert sample(text, "rq_workers", state="idle") == 1
    metrics.shutdown()


def test_a_forked_child_keeps_the_resource_and_can_still_record(
    metrics: IngestionMetrics,
) -> None:
    resource = metrics._provider._sdk_config.resource
    read_end, write_end = os.pipe()

    child = os.fork()
    if child == 0:
        try:
            metrics.record_stage("embed", 0.5)
            same = metrics._provider._sdk_config.resource is resource
            rendered = b"ingestion_stage_duration_seconds_count" in metrics.render()
            os.write(write_end, f"{same} {rendered}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    reply = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(child, 0)

    assert reply == "True True"  # no per-fork resource detection; recording still works


def test_oldest_queued_job_age_is_measured_against_the_clock() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    metrics = IngestionMetrics(
        queue_stats=lambda: QueueStats(
            jobs={("documents", "queued"): 3, ("other", "queued"): 0},
            head_enqueued_at={"documents": now - timedelta(minutes=5)},
        ),
        now=lambda: now,
    )

    text = metrics.render().decode()

    assert sample(text, "rq_oldest_queued_job_age_seconds", queue="documents") == 300
    assert sample(text, "rq_oldest_queued_job_age_seconds", queue="other") == 0
    ages = {
        found.labels["queue"]
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == "rq_oldest_queued_job_age_seconds"
    }
    assert ages == {"documents", "other"}  # an empty queue waits for nothing: 0
    metrics.shutdown()


def test_stored_documents_come_from_their_reader_once_per_render() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    reads: list[int] = []

    def stats() -> DocumentStats:
        reads.append(1)
        return DocumentStats(
            counts={"queued": 2, "processing": 1, "ready": 7, "failed": 1},
            errors={("queued", "embedder_unavailable"): 2, ("failed", "no_text"): 1},
            oldest_processing_started_at=now - timedelta(seconds=90),
        )

    metrics = IngestionMetrics(document_stats=stats, now=lambda: now)

    text = metrics.render().decode()

    assert len(reads) == 1
    assert sample(text, "ingestion_stored_documents", status="ready") == 7
    assert sample(text, "ingestion_stored_documents", status="processing") == 1
    errors = {"status": "queued", "error_code": "embedder_unavailable"}
    assert sample(text, "ingestion_stored_document_errors", **errors) == 2
    assert sample(text, "ingestion_oldest_processing_document_age_seconds") == 90
    assert families(metrics)["ingestion_stored_documents"] == "gauge"
    metrics.shutdown()


def test_a_failing_document_count_leaves_the_queue_gauges_in_the_scrape() -> None:
    def unreachable() -> DocumentStats:
        raise TimeoutError("statement timeout")

    metrics = IngestionMetrics(
        queue_stats=lambda: QueueStats(workers={"idle": 1}), document_stats=unreachable
    )

    rendered = families(metrics)

    assert "rq_workers" in rendered and "ingestion_stored_documents" not in rendered
    metrics.shutdown()
