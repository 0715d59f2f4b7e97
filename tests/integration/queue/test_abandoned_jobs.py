"""A worker takes a job and dies before claiming its document, while other jobs keep the queue
busy: the surviving worker's maintenance puts that job back at the head of the queue once the
lease has run out, and it then runs once.

Real Redis and Postgres, the production adapters and worker class. The dead worker is RQ's own
dequeue and execution record with nothing after them; time is moved with the container's clock
instead of waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import StartedJobRegistry

from application.ports import Clock, UnitOfWorkFactory
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import Container
from domain import Document, DocumentStatus
from infrastructure.memory import FixedClock
from infrastructure.queue import SERIALIZER
from infrastructure.settings import Settings
from tests.fixtures.worker import WorkerProcess
from worker.runtime import WorkerRuntime, install
from worker.worker import worker_class_for

TEXT = "Ingestion turns files into chunks.\n\nEach chunk gets an embedding.\n"


def submit_documents(container: Container, count: int) -> list[Document]:
    use_case: SubmitDocument = container.resolve(SubmitDocument)
    workspace = uuid4()
    return [
        use_case(SubmitUpload(workspace, f"note-{n}.txt", f"{n}. {TEXT}".encode()))
        for n in range(count)
    ]


def take_and_die(queue: Queue) -> Job:
    """What a worker records when it takes the job at the head of the queue, and no more."""
    taken = Queue.dequeue_any([queue], None, connection=queue.connection, serializer=SERIALIZER)
    assert taken is not None
    job = taken[0]
    Worker([queue], connection=queue.connection, serializer=SERIALIZER).prepare_execution(job)
    return job


def maintenance_at(container: Container, settings: Settings, moment: datetime) -> None:
    """One maintenance pass of a live worker of ours, its clock at `moment`."""
    container.register(Clock, instance=FixedClock(moment))
    install(WorkerRuntime(container))
    try:
        survivor = worker_class_for(settings)(
            list(settings.queues), connection=container.resolve(Redis)
        )
        survivor.run_maintenance_tasks()
    finally:
        install(None)


def load(container: Container, document: Document) -> Document:
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        return uow.documents.get(document.id, document.workspace_id)


def test_a_job_taken_but_never_claimed_is_back_at_the_head_of_a_busy_queue_after_the_lease(
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    documents = submit_documents(app_container, 4)
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)
    [first, *busy] = queue.job_ids
    job = take_and_die(queue)
    assert job.id == first
    lease = timedelta(seconds=worker_settings.processing_lease)

    maintenance_at(app_container, worker_settings, datetime.now(UTC) + lease / 2)
    assert queue.job_ids == busy, "a job within its lease was taken back"

    maintenance_at(app_container, worker_settings, datetime.now(UTC) + lease * 1.01)
    assert queue.job_ids == [first, *busy]
    assert StartedJobRegistry(queue=queue).get_job_ids(cleanup=False) == []
    assert load(app_container, documents[0]).status is DocumentStatus.QUEUED

    assert start_worker("--burst").exit_code(60) == 0
    stored = [load(app_container, document) for document in documents]
    assert [d.status for d in stored] == [DocumentStatus.READY] * 4
    assert stored[0].attempts == 1
    result = Job.fetch(first, connection=redis_connection, serializer=SERIALIZER).latest_result()
    assert result is not None and result.return_value is not None
    assert result.return_value["status"] == "ready"
