"""The `ingest` command line, run in-process against the session's real Redis and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from redis import Redis
from rq import Queue, Worker

from application.ports import JobQueue, UnitOfWorkFactory
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import Container
from cli import main as cli
from domain import Document, DocumentStatus
from infrastructure.memory import InMemoryJobQueue
from infrastructure.observability import read_queue_stats
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings

Ingest = Callable[..., tuple[int, str]]
WORKSPACE = UUID("0b4c2f9e-55a1-4c3e-9d7e-3f7f1a2b6c8d")


@pytest.fixture
def ingest(
    worker_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Ingest:
    """Run `ingest ARGS...` with the worker's environment; return (exit code, stdout)."""
    monkeypatch.chdir(tmp_path)
    for key, value in worker_environment.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(list(args))
        return code, capsys.readouterr().out

    return run


def test_queue_shows_counts_by_status_and_workers_by_state(
    ingest: Ingest, worker_settings: Settings, redis_connection: Redis
) -> None:
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)
    for _ in range(3):
        queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=("a", "b"))
    Worker([queue], connection=redis_connection, serializer=SERIALIZER).register_birth()

    code, out = ingest("queue")

    header, _rule, row, workers, _next_job_waited = out.splitlines()
    assert code == 0
    assert header.split() == ["queue", "queued", "started", "scheduled", "deferred", "failed"]
    assert row.split() == [worker_settings.queue_name, "3", "0", "0", "0", "0"]
    assert workers.startswith("workers: 1 (")


def queued_document(container: Container) -> Document:
    """A stored, queued document whose job never reached Redis."""
    container.register(JobQueue, instance=InMemoryJobQueue())
    submit: SubmitDocument = container.resolve(SubmitDocument)
    return submit(SubmitUpload(WORKSPACE, "a.txt", b"some text", force=True))


def failed_document(container: Container) -> Document:
    """A stored document marked failed, whose job never reached Redis."""
    document = queued_document(container)
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        stored = uow.documents.get(document.id, WORKSPACE)
        stored.mark_failed(code="corrupt_document", message="broken", now=stored.updated_at)
        uow.documents.save(stored)
        uow.commit()
    return document


def test_status_counts_documents_by_status(ingest: Ingest, app_container: Container) -> None:
    failed_document(app_container)
    failed_document(app_container)
    queued_document(app_container)

    code, out = ingest("status", "--workspace", str(WORKSPACE))

    by_status = out.split("\n\n")[0]
    counts = dict(line.split() for line in by_status.splitlines()[2:])
    assert code == 0
    assert counts == {"queued": "1", "processing": "0", "ready": "0", "failed": "2"}


def test_requeue_failed_queues_them_again_and_enqueues_their_jobs(
    ingest: Ingest,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    document = failed_document(app_container)

    code, out = ingest("requeue", "--failed", "--workspace", str(WORKSPACE))

    assert code == 0
    assert out.split() == [str(document.id)]
    stats = read_queue_stats(redis_connection, worker_settings.queues)
    assert stats.jobs[(worker_settings.queue_name, "queued")] == 1
    uow_factory: UnitOfWorkFactory = app_container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        assert uow.documents.get(document.id, WORKSPACE).status is DocumentStatus.QUEUED
