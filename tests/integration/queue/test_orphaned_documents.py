"""A document left `queued` with no job is enqueued again by recovery, whatever else the queues
hold: here a job scheduled for 2099 and a waiting backlog, on real Redis and Postgres with the
production adapters. Time is moved with the use case's clock instead of waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis import Redis
from rq import Queue

from application.ports import Clock
from application.usecases.ingestion import RecoverAbandonedWork, SubmitDocument, SubmitUpload
from bootstrap import Container
from domain import Document
from infrastructure.memory import FixedClock
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings

TEXT = b"Ingestion turns files into chunks.\n\nEach chunk gets an embedding.\n"


def submit(container: Container, name: str) -> Document:
    use_case: SubmitDocument = container.resolve(SubmitDocument)
    return use_case(SubmitUpload(uuid4(), name, TEXT))


def documents_on(queue: Queue) -> list[str]:
    return [str(job.args[0]) for job in queue.jobs]


def test_an_orphan_is_enqueued_again_beside_a_job_scheduled_for_2099_and_a_backlog(
    app_container: Container, worker_settings: Settings, redis_connection: Redis
) -> None:
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)
    orphan = submit(app_container, "orphan.txt")
    queue.empty()  # its job is gone: the enqueue after its row was written never happened
    far_future = submit(app_container, "far-future.txt")
    queue.empty()
    queue.enqueue_at(
        datetime(2099, 1, 1, tzinfo=UTC),
        PROCESS_DOCUMENT_JOB,
        str(far_future.id),
        str(far_future.workspace_id),
    )
    backlog = submit(app_container, "backlog.txt")
    lease = timedelta(seconds=worker_settings.processing_lease)
    app_container.register(Clock, instance=FixedClock(datetime.now(UTC) + lease * 2))
    recover: RecoverAbandonedWork = app_container.resolve(RecoverAbandonedWork)

    report = recover()

    assert report.reenqueued == [orphan.id]
    assert documents_on(queue) == [str(backlog.id), str(orphan.id)]
    assert queue.scheduled_job_registry.count == 1
