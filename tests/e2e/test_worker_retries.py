"""Transient failures in a real worker: retried with backoff until they pass, or until
MAX_ATTEMPTS, for jobs enqueued by an outside client that set no retry policy."""

from __future__ import annotations

from redis import Redis
from rq.job import JobStatus

from bootstrap import Container
from domain import DocumentStatus
from infrastructure.observability import read_queue_stats
from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings
from tests.e2e.test_worker_process import (
    StartWorker,
    load,
    register_without_enqueuing,
    rq_enqueue,
    wait_for_job,
)
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.fixtures.worker import WorkerProcess

#: Requests the embedder makes per job attempt: the first and its five quick retries.
REQUESTS_PER_ATTEMPT = 6
UNAVAILABLE = Reply(status=503, headers={"Retry-After": "0"}, body={"error": "overloaded"})


def openai_worker(
    start_worker: StartWorker, server: EmbeddingServer, **overrides: str
) -> WorkerProcess:
    return start_worker(
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=server.url,
        EMBEDDING_MODEL="test-embedder",
        RETRY_BACKOFF="1",
        **overrides,
    )


def test_a_job_failing_transiently_is_retried_with_backoff_until_the_document_is_ready(
    start_worker: StartWorker,
    embedding_server: EmbeddingServer,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    embedding_server.script(*[UNAVAILABLE] * REQUESTS_PER_ATTEMPT)
    worker = openai_worker(start_worker, embedding_server)
    document = register_without_enqueuing(app_container)

    job_id = rq_enqueue(
        worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(document.workspace_id)
    )
    job = wait_for_job(redis_connection, job_id, timeout=60)

    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value()["status"] == "ready"
    assert job.retry_intervals == [1, 1, 1, 1]  # the worker's policy: MAX_ATTEMPTS 5, 1 s
    assert job.retries_left == 3
    worker.wait_for_line(rf"Job {job_id}: scheduled for retry at .*, 3 remaining")
    ready = load(app_container, document)
    assert ready.status is DocumentStatus.READY
    assert (ready.attempts, ready.error_code) == (2, None)
    assert len(embedding_server.requests) == REQUESTS_PER_ATTEMPT + 1


def test_a_job_that_keeps_failing_stops_after_max_attempts_with_the_last_reason(
    start_worker: StartWorker,
    embedding_server: EmbeddingServer,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    embedding_server.script(*[UNAVAILABLE] * 100)
    worker = openai_worker(start_worker, embedding_server, MAX_ATTEMPTS="3")
    document = register_without_enqueuing(app_container)

    job_id = rq_enqueue(
        worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(document.workspace_id)
    )
    job = wait_for_job(redis_connection, job_id, timeout=60)

    assert job.get_status() == JobStatus.FAILED
    assert (job.retry_intervals, job.retries_left) == ([1, 1], 0)
    worker.wait_for_line(rf"Job {job_id}: scheduled for retry at .*, 0 remaining")
    assert "RetriesExhausted" in str(job.latest_result().exc_string)
    first_line = str(job.latest_result().exc_string).splitlines()[0]
    assert first_line.startswith("retries_exhausted: gave up after 3 attempts; last error: ")
    assert job.meta["error"]["code"] == "retries_exhausted"
    assert first_line == f"retries_exhausted: {job.meta['error']['message']}"
    failed = load(app_container, document)
    assert failed.status is DocumentStatus.FAILED
    assert failed.attempts == 3
    assert failed.error_code == "retries_exhausted"
    assert failed.error_message is not None and "HTTP 503" in failed.error_message
    queue = read_queue_stats(redis_connection, worker_settings.queues).jobs
    assert queue[(worker_settings.queue_name, "scheduled")] == 0
    assert queue[(worker_settings.queue_name, "queued")] == 0
    assert len(embedding_server.requests) == 3 * REQUESTS_PER_ATTEMPT
