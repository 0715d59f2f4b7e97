"""What outside clients see of a failed job, through a real worker: `job.exc_info` (what
rq-dashboard and `Job.fetch(id).exc_info` show) starts with `code: message`, and
`job.meta["error"]` holds the same code and message; the JSON log's failure lines carry the
job's ids and the code."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from bootstrap import Container
from domain import DocumentStatus
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings
from tests.e2e.test_worker_process import (
    WORKSPACE,
    StartWorker,
    large_text,
    rq_enqueue,
    submit,
    wait_for_job,
    wait_for_status,
)
from tests.faults.harness import wait_until

CORRUPT_PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog"


def exc_info(job: Job) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RQ's, for the attribute we test
        return str(job.exc_info)


def assert_failed_with(job: Job, code: str, message: str | None = None) -> dict[str, Any]:
    """The job failed for good with `code` (and `message`, when given) in both places."""
    assert job.get_status() == JobStatus.FAILED
    first_line = exc_info(job).splitlines()[0]
    error = job.meta["error"]
    assert error["code"] == code, job.meta
    assert first_line == f"{code}: {error['message']}"
    if message is not None:
        assert error["message"] == message
    return dict(error)


def test_a_malformed_argument(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis
) -> None:
    start_worker()
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "x", str(WORKSPACE))
    job = wait_for_job(redis_connection, job_id)
    assert_failed_with(job, "invalid_argument", "document_id: 'x' is not a UUID")
    assert "Traceback" in exc_info(job)  # the traceback follows the first line


def test_a_forbidden_function(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis
) -> None:
    start_worker()
    job_id = rq_enqueue(worker_settings, "os.system", "true")
    job = wait_for_job(redis_connection, job_id)
    error = assert_failed_with(job, "forbidden_job")
    assert error["message"].startswith("refused to run 'os.system'")


def test_a_permanent_file_error_shows_the_documents_code(
    start_worker: StartWorker, app_container: Container, redis_connection: Redis
) -> None:
    start_worker()
    document = submit(app_container, "broken.pdf", CORRUPT_PDF)
    failed = wait_for_status(app_container, document, DocumentStatus.FAILED)
    assert failed.error_code == "corrupt_document"
    job = wait_for_job(redis_connection, _only_failed_job(redis_connection))
    assert_failed_with(job, "corrupt_document", failed.error_message)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "code"), [("fork", "worker_died"), ("pool", "executor_crashed")])
def test_a_killed_job_process(
    start_worker: StartWorker,
    app_container: Container,
    redis_connection: Redis,
    mode: str,
    code: str,
) -> None:
    """The process running the job (fork's work horse, pool's executor) is killed.

    Also: a worker allowing fewer attempts than the job was enqueued with keeps to its own."""
    worker = start_worker(MAX_ATTEMPTS="1", WORKER_MODE=mode)
    document = submit(app_container, "big.txt", large_text(200_000))
    wait_for_status(app_container, document, DocumentStatus.PROCESSING)
    for process in worker.work_horses() if mode == "fork" else [worker.executor()]:
        process.kill()
    job = wait_for_job(redis_connection, _only_failed_job(redis_connection))
    error = assert_failed_with(job, code)
    assert "signal 9" in error["message"]


def test_failure_log_lines_carry_the_ids_and_the_code(
    start_worker: StartWorker, app_container: Container, redis_connection: Redis
) -> None:
    worker = start_worker(LOG_FORMAT="json")
    document = submit(app_container, "broken.pdf", CORRUPT_PDF)
    wait_for_status(app_container, document, DocumentStatus.FAILED)
    job_id = _only_failed_job(redis_connection)
    worker.wait_for_line(r'"error_code": "corrupt_document"')
    lines = [json.loads(line) for line in worker.lines if line.startswith("{")]
    failures = [line for line in lines if line.get("error_code")]
    assert failures, worker.output
    for line in failures:
        assert line["job_id"] == job_id, line
        assert line["document_id"] == str(document.id), line
        assert line["workspace_id"] == str(document.workspace_id), line
        assert line["error_code"] == "corrupt_document", line
    assert any(line["level"] in ("ERROR", "WARNING") for line in failures)


def _only_failed_job(redis: Redis) -> str:
    """The id of the one job in the failed registry, once there is one."""
    queue = Queue("ingestion", connection=redis, serializer=SERIALIZER)

    def found() -> str | None:
        ids = queue.failed_job_registry.get_job_ids()
        return ids[0] if len(ids) == 1 else None

    return wait_until(found, 60, "a failed job")  # type: ignore[no-any-return]
