"""A file replaced while its document is processing: the newest content wins, whichever attempt
commits last. Two workers; the older attempt is held at the embedder until the newer one is done."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from uuid import uuid4

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import text

from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from tests.faults.harness import FaultWorld, wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply

OLD = b"The first upload said one thing.\n\nIts chunks must not survive a newer upload.\n"
NEW = b"The replacement says another.\n\nOnly these words may be indexed in the end.\n"


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(world: FaultWorld) -> Iterator[None]:
    yield
    world.stop_workers()


@pytest.fixture
def first_request_held() -> Iterator[EmbeddingServer]:
    server = EmbeddingServer(dimension=32)
    server.script(Reply(hold=True))
    server.start()
    yield server
    server.stop()


def test_an_older_attempt_finishing_last_does_not_bring_back_the_old_content(
    world: FaultWorld, first_request_held: EmbeddingServer
) -> None:
    server = first_request_held
    workspace = uuid4()
    document = world.submit(workspace, "notes.txt", OLD)
    openai = {
        "EMBEDDER": "openai",
        "EMBEDDING_BASE_URL": server.url,
        "EMBEDDING_MODEL": "test-embedder",
    }
    world.start_worker("--workers", "2", **openai)
    wait_until(lambda: server.requests, 60, "the first attempt to reach the embedder")

    (world.settings.storage_root / document.storage_key).write_bytes(NEW)
    queue = Queue(world.settings.queue_name, connection=world.client(), serializer=SERIALIZER)
    newer = queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=(str(document.id), str(workspace)))
    wait_until(lambda: newer.get_status(refresh=True) == JobStatus.FINISHED, 60, "the newer job")
    server.release.set()
    older = _the_other_job(queue, newer.id)
    wait_until(lambda: older.get_status(refresh=True) == JobStatus.FINISHED, 60, "the older job")

    row = world.rows([document.id])[document.id]
    texts = " ".join(content for _, content in world.chunk_texts()[document.id])
    assert row.status == "ready"
    assert _stored_sha(world, document.id) == hashlib.sha256(NEW).hexdigest()
    assert "replacement" in texts and "first upload" not in texts
    assert older.return_value()["status"] == "superseded"


def _the_other_job(queue: Queue, newer_id: str) -> Job:
    finished = queue.finished_job_registry.get_job_ids()
    started = queue.started_job_registry.get_job_ids()
    [job_id] = [job_id for job_id in {*finished, *started} if job_id != newer_id]
    return Job.fetch(job_id, connection=queue.connection, serializer=SERIALIZER)


def _stored_sha(world: FaultWorld, document_id: object) -> str:
    with world.engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT content_sha256 FROM documents WHERE id = :id"), {"id": document_id}
            ).scalar_one()
        )
