"""What an operator asks `ingest`: counts by status and by error code, the failed documents with
their reasons, and how long the next queued job has waited."""

from __future__ import annotations

import re
from pathlib import Path

from redis import Redis
from rq import Queue, Worker

from bootstrap import Container
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings

from .process import run_ingest
from .test_ingest_cli import WORKSPACE, failed_document, queued_document


def test_status_counts_failed_documents_by_error_code(
    worker_environment: dict[str, str], app_container: Container, tmp_path: Path
) -> None:
    failed_document(app_container)
    failed_document(app_container)
    queued_document(app_container)

    result = run_ingest(worker_environment, tmp_path, "status", "--workspace", str(WORKSPACE))

    assert result.returncode == 0, result.stderr
    codes = result.stdout.split("\n\n")[1].splitlines()
    assert codes[0].split() == ["error", "code", "failed", "documents"]
    assert codes[2].split() == ["corrupt_document", "2"]


def test_status_failed_lists_each_failed_document_with_its_reason(
    worker_environment: dict[str, str], app_container: Container, tmp_path: Path
) -> None:
    failed = failed_document(app_container)
    queued_document(app_container)

    result = run_ingest(
        worker_environment, tmp_path, "status", "--failed", "--workspace", str(WORKSPACE)
    )

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert rows == [[str(failed.id), "a.txt", "corrupt_document", "broken"]]


def test_queue_shows_how_long_the_next_job_has_waited(
    worker_environment: dict[str, str],
    worker_settings: Settings,
    redis_connection: Redis,
    tmp_path: Path,
) -> None:
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)
    queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=("a", "b"))
    Worker([queue], connection=redis_connection, serializer=SERIALIZER).register_birth()

    result = run_ingest(worker_environment, tmp_path, "queue")

    assert result.returncode == 0, result.stderr
    assert "workers: 1 (1 " in result.stdout
    assert re.search(
        rf"next job in {worker_settings.queue_name} has waited \d+ s", result.stdout
    ), result.stdout
