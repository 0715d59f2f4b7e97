"""Measurements taken in a forked child reach the parent's metrics through the relay."""

from __future__ import annotations

import os
import pickle
import resource
from collections.abc import Callable, Iterator

import pytest

from application.ports import Stage
from infrastructure.observability import IngestionMetrics, MetricsRelay, OtelIngestionTelemetry
from tests.unit.observability.metrics_text import sample


@pytest.fixture
def metrics() -> Iterator[IngestionMetrics]:
    instance = IngestionMetrics()
    yield instance
    instance.shutdown()


def _in_forked_child(work: Callable[[], None]) -> int:
    """Run `work` in a real forked child that exits with os._exit, as RQ's work horse does."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            work()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _process_one_document(telemetry: OtelIngestionTelemetry) -> None:
    for stage in (Stage.READ, Stage.EXTRACT, Stage.CHUNK, Stage.EMBED):
        with telemetry.stage(stage):
            pass
    telemetry.embedding_cache_used(hits=2, misses=3)
    telemetry.embedding_throttled(waited_seconds=1.5, rejections=1)
    with telemetry.stage(Stage.WRITE):
        pass
    telemetry.document_processed(outcome="ready", size_bytes=2048, chunks=5, tokens=900)


def test_a_forked_child_reports_through_the_relay(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    with relay.around_job():
        exit_code = _in_forked_child(lambda: _process_one_document(telemetry))

    text = metrics.render().decode()
    assert exit_code == 0
    for stage in Stage:
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage.value) == 1
    assert sample(text, "ingestion_documents_total", outcome="ready") == 1
    assert sample(text, "ingestion_chunks_total") == 5
    assert sample(text, "ingestion_tokens_total") == 900
    assert sample(text, "ingestion_document_bytes_total") == 2048
    assert sample(text, "ingestion_embedding_cache_hits_total") == 2
    assert sample(text, "ingestion_embedding_cache_misses_total") == 3
    assert sample(text, "ingestion_embedding_rate_limit_wait_seconds_total") == 1.5
    assert sample(text, "ingestion_embedding_rate_limited_responses_total") == 1


def test_without_the_relay_a_childs_measurements_die_with_it(metrics: IngestionMetrics) -> None:
    telemetry = OtelIngestionTelemetry(metrics)

    exit_code = _in_forked_child(lambda: _process_one_document(telemetry))

    assert exit_code == 0
    assert sample(metrics, "ingestion_documents_total", outcome="ready") == 0


def test_a_failing_stage_in_the_child_is_still_timed(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    def failing_extract() -> None:
        with telemetry.stage(Stage.EXTRACT):
            raise ValueError("corrupt")

    with relay.around_job():
        exit_code = _in_forked_child(failing_extract)

    assert exit_code == 1
    assert sample(metrics, "ingestion_stage_duration_seconds_count", stage="extract") == 1


def test_successive_jobs_accumulate_and_the_parent_records_directly(
    metrics: IngestionMetrics,
) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    for _ in range(3):
        with relay.around_job():
            _in_forked_child(lambda: _process_one_document(telemetry))
    with relay.around_job():
        telemetry.document_processed(outcome="unchanged", size_bytes=1, chunks=0, tokens=0)

    assert sample(metrics, "ingestion_documents_total", outcome="ready") == 3
    assert sample(metrics, "ingestion_documents_total", outcome="unchanged") == 1
    assert sample(metrics, "ingestion_chunks_total") == 15


def test_malformed_lines_are_skipped_and_the_rest_recorded(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    def noisy_child() -> None:
        write_fd = relay._channel.write_fd  # type: ignore[union-attr]
        os.write(write_fd, b'not json\n{"event":"stage","stage":"read","seconds":"x"}\n')
        os.write(write_fd, b'{"event":"unknown"}\n[1]\n')
        telemetry.embedding_cache_used(hits=7, misses=0)

    with relay.around_job():
        _in_forked_child(noisy_child)

    assert sample(metrics, "ingestion_embedding_cache_hits_total") == 7
    assert sample(metrics, "ingestion_stage_duration_seconds_count", stage="read") == 0


def test_a_child_that_floods_the_pipe_is_not_blocked(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    def flood() -> None:
        for _ in range(20_000):
            telemetry.embedding_cache_used(hits=1, misses=0)

    with relay.around_job():
        exit_code = _in_forked_child(flood)

    hits = sample(metrics, "ingestion_embedding_cache_hits_total")
    assert exit_code == 0
    assert 0 < hits < 20_000


def test_a_job_runs_even_when_no_pipe_can_be_opened(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    ran = False
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        with relay.around_job():
            ran = True
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert ran


def test_pool_worker_processes_report_to_the_pool_parent(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    def pool_worker() -> None:
        """A worker process of the pool: forks a horse per job, then records the job."""
        for _ in range(2):
            with relay.around_job():
                _in_forked_child(lambda: _process_one_document(telemetry))
            relay.sink().record_job(
                queue="ingestion", job_name="process", outcome="success", seconds=0.1
            )

    with relay.pooled():
        exit_codes = [_in_forked_child(pool_worker) for _ in range(3)]

    text = metrics.render().decode()
    job = {"queue": "ingestion", "job_name": "process"}
    assert exit_codes == [0, 0, 0]
    assert sample(text, "ingestion_jobs_total", **job, outcome="success") == 6
    assert sample(text, "ingestion_job_duration_seconds_count", **job) == 6
    for stage in Stage:
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage.value) == 6
    assert sample(text, "ingestion_documents_total", outcome="ready") == 6
    assert sample(text, "ingestion_chunks_total") == 30


def test_outside_a_pool_the_worker_process_records_directly(metrics: IngestionMetrics) -> None:
    relay = MetricsRelay(metrics)

    with relay.pooled():
        relay.sink().record_job(queue="q", job_name="j", outcome="success", seconds=0.1)
    relay.sink().record_job(queue="q", job_name="j", outcome="success", seconds=0.1)

    assert relay.sink() is metrics
    assert sample(metrics, "ingestion_jobs_total", queue="q", job_name="j", outcome="success") == 2


def test_pool_worker_processes_running_jobs_inline_report_to_the_pool_parent(
    metrics: IngestionMetrics,
) -> None:
    relay = MetricsRelay(metrics)
    telemetry = OtelIngestionTelemetry(metrics, relay)

    def inline_pool_worker() -> None:
        """A worker process of the pool that runs its jobs itself: no horse, no job pipe."""
        for _ in range(2):
            _process_one_document(telemetry)
            relay.sink().record_job(
                queue="ingestion", job_name="process", outcome="success", seconds=0.1
            )

    with relay.pooled():
        exit_codes = [_in_forked_child(inline_pool_worker) for _ in range(2)]

    text = metrics.render().decode()
    assert exit_codes == [0, 0]
    job = {"queue": "ingestion", "job_name": "process"}
    assert sample(text, "ingestion_jobs_total", **job, outcome="success") == 4
    for stage in Stage:
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage.value) == 4
    assert sample(text, "ingestion_documents_total", outcome="ready") == 4


def test_a_job_run_inline_in_the_serving_process_records_directly(
    metrics: IngestionMetrics,
) -> None:
    relay = MetricsRelay(metrics)

    _process_one_document(OtelIngestionTelemetry(metrics, relay))

    assert relay.sink() is metrics
    assert sample(metrics, "ingestion_stage_duration_seconds_count", stage="write") == 1
    assert sample(metrics, "ingestion_chunks_total") == 5


def test_what_an_executor_collects_is_replayed_where_the_worker_records(
    metrics: IngestionMetrics,
) -> None:
    executor_metrics = IngestionMetrics()
    executor_relay = MetricsRelay(executor_metrics)
    telemetry = OtelIngestionTelemetry(executor_metrics, executor_relay)
    with executor_relay.collecting() as collected:
        _process_one_document(telemetry)
    events = pickle.loads(pickle.dumps(collected.events))  # as they cross to the worker

    MetricsRelay(metrics).replay([*events, {"event": "unknown"}, {"event": "stage"}])

    assert sample(executor_metrics, "ingestion_documents_total", outcome="ready") == 0
    for stage in Stage:
        assert sample(metrics, "ingestion_stage_duration_seconds_count", stage=stage.value) == 1
    assert sample(metrics, "ingestion_documents_total", outcome="ready") == 1
    assert sample(metrics, "ingestion_embedding_cache_misses_total") == 3
    executor_metrics.shutdown()


def test_a_pool_worker_process_replays_an_executors_events_to_the_pool_parent(
    metrics: IngestionMetrics,
) -> None:
    relay = MetricsRelay(metrics)
    event = {"event": "document", "outcome": "ready", "size_bytes": 1, "chunks": 2, "tokens": 3}

    with relay.pooled():
        exit_code = _in_forked_child(lambda: relay.replay([event]))

    assert exit_code == 0
    assert sample(metrics, "ingestion_chunks_total") == 2


def test_executor_restarts_in_pool_worker_processes_reach_the_pool_parent(
    metrics: IngestionMetrics,
) -> None:
    relay = MetricsRelay(metrics)
    reasons = ["crash", "timeout", "max_rss", "max_jobs", "crash"]

    def pool_worker() -> None:
        for reason in reasons:
            relay.sink().record_executor_restart(reason)

    with relay.pooled():
        exit_codes = [_in_forked_child(pool_worker) for _ in range(2)]

    assert exit_codes == [0, 0]
    text = metrics.render().decode()
    assert sample(text, "ingestion_executor_restarts_total", reason="crash") == 4
    for reason in ("timeout", "max_rss", "max_jobs"):
        assert sample(text, "ingestion_executor_restarts_total", reason=reason) == 2
