"""WORKER_MODE=pool: `python -m worker` hands each job to its one long-lived executor process,
with the same rules as the other modes: allow-list, JSON, retries, timeouts, metrics, shutdown."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from redis import Redis
from rq.job import JobStatus

from bootstrap import Container
from domain import DocumentStatus
from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings
from tests.e2e.test_worker_pool_metrics import JOB, scrape_until_jobs_counted
from tests.e2e.test_worker_process import (
    WORKSPACE,
    StartWorker,
    large_text,
    load,
    register_without_enqueuing,
    rq_enqueue,
    submit,
    wait_for_job,
    wait_for_status,
)
from tests.faults.harness import wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.unit.observability.metrics_text import sample

POOL = {"WORKER_MODE": "pool"}
STAGES = ("read", "extract", "chunk", "embed", "write")


def test_submitted_documents_become_ready_in_one_executor(
    start_worker: StartWorker, app_container: Container
) -> None:
    worker = start_worker(**POOL)
    documents = [submit(app_container, f"doc{i}.txt") for i in range(3)]
    ready = [wait_for_status(app_container, d, DocumentStatus.READY) for d in documents]
    assert all(document.chunk_count >= 1 for document in ready)
    assert "jobs run in an executor process" in worker.output
    assert worker.executors_started() == 1
    assert worker.process.poll() is None


def test_a_malformed_uuid_fails_once_without_retry(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis
) -> None:
    start_worker(**POOL)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "not-a-uuid", str(WORKSPACE))
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "document_id: 'not-a-uuid' is not a UUID" in str(job.latest_result().exc_string)
    assert job.retries_left == 0
    assert len(job.results()) == 1


def test_a_job_naming_another_callable_fails_without_running(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis, tmp_path: Path
) -> None:
    start_worker(**POOL)
    witness = tmp_path / "witness"
    job_id = rq_enqueue(worker_settings, "os.system", f"touch {witness}")
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "refused to run 'os.system'" in str(job.latest_result().exc_string)
    assert not witness.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_recorded_in_the_executor_reach_metrics(
    start_worker: StartWorker, app_container: Container, workers: str
) -> None:
    worker = start_worker("run", "--workers", workers, **POOL)
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)
    documents = [submit(app_container, f"doc{i}.txt") for i in range(4)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)

    text = scrape_until_jobs_counted(url, len(documents))

    assert sample(text, "ingestion_jobs_total", **JOB, outcome="success") == len(documents)
    for stage in STAGES:
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage) == 4
    assert sample(text, "ingestion_documents_total", outcome="ready") == len(documents)


@pytest.mark.slow
def test_sigterm_during_a_job_finishes_it_in_the_executor_and_exits_zero(
    start_worker: StartWorker, app_container: Container
) -> None:
    worker = start_worker(**POOL)
    worker.wait_until_consuming()
    document = submit(app_container, "big.txt", large_text(400_000))
    wait_for_status(app_container, document, DocumentStatus.PROCESSING)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.exit_code() == 0
    assert load(app_container, document).status is DocumentStatus.READY
    shutdown = worker.wait_for_line("warm shut down requested")
    finished = worker.wait_for_line("Job OK")
    assert worker.output.index(shutdown.group(0)) < worker.output.index(finished.group(0))


def test_a_job_past_its_timeout_is_killed_with_its_executor_and_its_retry_runs(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
    redis_connection: Redis,
) -> None:
    embedding_server.script(Reply(hold=True))  # the first embedding request never answers
    worker = start_worker(
        JOB_TIMEOUT="1",
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=embedding_server.url,
        EMBEDDING_MODEL="test-embedder",
        EMBEDDING_TIMEOUT="30",
        **POOL,
    )
    document = register_without_enqueuing(app_container)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))

    job = wait_for_job(redis_connection, job_id)
    assert worker.wait_for_line(r"JobTimedOut: .*\(1 s\)")
    assert job.get_status() == JobStatus.FINISHED
    assert load(app_container, document).attempts == 2
    wait_until(lambda: worker.executors_started() == 2, 30, "a second executor")
    assert worker.process.poll() is None
