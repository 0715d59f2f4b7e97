"""A real `python -m worker` process against real Redis and Postgres, driven from outside."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from redis import Redis
from rq.job import Job, JobStatus

from application.ports import JobQueue, UnitOfWorkFactory
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import Container
from domain import Document, DocumentStatus
from infrastructure.db import make_engine, migrations
from infrastructure.memory import InMemoryJobQueue
from infrastructure.observability import read_queue_stats
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings
from tests.faults.harness import wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.fixtures.worker import WorkerProcess

StartWorker = Callable[..., WorkerProcess]
WORKSPACE = UUID("6f1c1c36-4a55-4b7b-9d55-1a2b3c4d5e6f")
TEXT = b"Ingestion turns files into chunks.\n\nEach chunk gets an embedding.\n"


def submit(container: Container, name: str = "notes.txt", data: bytes = TEXT) -> Document:
    """A new document for each call (`force`: the same file submitted again is not answered
    with the document it already became)."""
    use_case: SubmitDocument = container.resolve(SubmitDocument)
    return use_case(SubmitUpload(WORKSPACE, name, data, force=True))


def register_without_enqueuing(container: Container, data: bytes = TEXT) -> Document:
    """A stored, `queued` document whose job an outside client is to enqueue."""
    container.register(JobQueue, instance=InMemoryJobQueue())
    return submit(container, data=data)


def load(container: Container, document: Document) -> Document:
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        return uow.documents.get(document.id, document.workspace_id)


def wait_for_status(
    container: Container, document: Document, *statuses: DocumentStatus, timeout: float = 30
) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = load(container, document)
        if current.status in statuses:
            return current
        time.sleep(0.05)
    raise AssertionError(f"document stayed {current.status.value}, wanted {statuses}")


def rq_enqueue(settings: Settings, function: str, *arguments: str) -> str:
    """Enqueue with RQ's own command line, as any outside client could; return the job id."""
    assert settings.redis_url is not None
    job_id = uuid4().hex
    subprocess.run(
        [
            Path(sys.executable).with_name("rq"),
            "enqueue",
            "--url",
            settings.redis_url.get_secret_value(),
            "--serializer",
            "rq.serializers.JSONSerializer",
            "--queue",
            settings.queue_name,
            "--job-id",
            job_id,
            function,
            *arguments,
        ],
        check=True,
        capture_output=True,
    )
    return job_id


def wait_for_job(redis: Redis, job_id: str, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
        if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED):
            # fetched again: the fields read above may predate the worker's final write
            return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def live_workers(redis: Redis) -> int:
    return sum(read_queue_stats(redis, ()).workers.values())


def large_text(words: int) -> bytes:
    paragraph = " ".join(f"word{i % 5000}" for i in range(200))
    return ("\n\n".join([paragraph] * (words // 200))).encode()


def test_submitted_documents_become_ready_with_chunks(
    start_worker: StartWorker, app_container: Container
) -> None:
    worker = start_worker()
    documents = [submit(app_container, f"doc{i}.txt") for i in range(3)]
    ready = [wait_for_status(app_container, d, DocumentStatus.READY) for d in documents]
    uow_factory: UnitOfWorkFactory = app_container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        chunks = uow.documents.list_chunks(documents[0].id)
    assert len(chunks) == ready[0].chunk_count >= 1
    assert {len(c.embedding) for c in chunks} == {32}
    assert "jobs run in an executor process" in worker.output  # the default WORKER_MODE, pool
    assert worker.executors_started() == 1
    assert worker.process.poll() is None


def test_a_job_enqueued_with_the_rq_command_line_is_processed(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    start_worker()
    document = register_without_enqueuing(app_container)
    job_id = rq_enqueue(
        worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(document.workspace_id)
    )
    assert wait_for_status(app_container, document, DocumentStatus.READY).chunk_count >= 1
    assert wait_for_job(redis_connection, job_id).return_value()["status"] == "ready"


def test_a_malformed_uuid_fails_once_naming_the_argument(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis
) -> None:
    start_worker()
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "not-a-uuid", str(WORKSPACE))
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "document_id: 'not-a-uuid' is not a UUID" in str(job.latest_result().exc_string)
    assert job.retries_left == 0
    assert len(job.results()) == 1


def test_a_job_naming_another_callable_fails_without_running(
    start_worker: StartWorker,
    worker_settings: Settings,
    redis_connection: Redis,
    tmp_path: Path,
) -> None:
    start_worker()
    witness = tmp_path / "witness"
    job_id = rq_enqueue(worker_settings, "os.system", f"touch {witness}")
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "refused to run 'os.system'" in str(job.latest_result().exc_string)
    assert not witness.exists()


def test_two_worker_processes_share_the_queue(
    start_worker: StartWorker, app_container: Container, redis_connection: Redis
) -> None:
    start_worker("run", "--workers", "2")
    deadline = time.monotonic() + 30
    while live_workers(redis_connection) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_workers(redis_connection) == 2
    documents = [submit(app_container, f"doc{i}.txt") for i in range(4)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)


@pytest.mark.parametrize("mode", ["fork", "inline", "pool"])
def test_sigterm_during_a_job_finishes_it_and_exits_zero(
    start_worker: StartWorker,
    app_container: Container,
    embedding_server: EmbeddingServer,
    mode: str,
) -> None:
    embedding_server.script(Reply(hold=True))  # the job waits there until the test releases it
    worker = start_worker(
        WORKER_MODE=mode,
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=embedding_server.url,
        EMBEDDING_MODEL="test-embedder",
    )
    document = submit(app_container)
    wait_until(lambda: embedding_server.requests, 30, "the job to reach the embedder")
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_line("warm shut down requested")
    assert worker.process.poll() is None, "a warm shutdown must wait for the job in hand"
    embedding_server.release.set()

    assert worker.exit_code() == 0, worker.output
    assert load(app_container, document).status is DocumentStatus.READY
    shutdown = worker.wait_for_line("warm shut down requested")
    finished = worker.wait_for_line("Job OK")
    assert worker.output.index(shutdown.group(0)) < worker.output.index(finished.group(0))


@pytest.mark.slow
def test_a_document_abandoned_by_a_killed_worker_is_recovered(
    start_worker: StartWorker, app_container: Container
) -> None:
    doomed = start_worker(RECOVERY_INTERVAL="1")
    document = submit(app_container, "big.txt", large_text(200_000))
    wait_for_status(app_container, document, DocumentStatus.PROCESSING)
    doomed.kill_everything()
    assert load(app_container, document).status is DocumentStatus.PROCESSING

    start_worker(JOB_TIMEOUT="10", PROCESSING_LEASE="11", RECOVERY_INTERVAL="1")
    recovered = wait_for_status(app_container, document, DocumentStatus.READY, timeout=60)
    assert recovered.attempts == 2


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL: unsupported scheme 'http'"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "REDIS_URL: redis://127.0.0.1:1/0"),
        ({"PROCESSING_LEASE": "10", "JOB_TIMEOUT": "10"}, "PROCESSING_LEASE: must exceed"),
        ({"EMBEDDING_DIMENSION": "64"}, "EMBEDDING_DIMENSION:"),
    ],
)
def test_start_up_failures_exit_non_zero_naming_the_setting(
    start_worker: StartWorker, environment: dict[str, str], named: str
) -> None:
    worker = start_worker(**environment)
    assert worker.exit_code() != 0
    assert named in worker.output


def test_a_schema_behind_head_stops_the_start(
    start_worker: StartWorker, new_database_url: Callable[[], str]
) -> None:
    worker = start_worker(DATABASE_URL=new_database_url())
    assert worker.exit_code() == 1
    assert "schema is at none, head is" in worker.output
    assert "run `ingest migrate`, or start with MIGRATE_ON_START=true" in worker.output


def test_workers_starting_together_with_migrate_on_start_migrate_once(
    start_worker: StartWorker, new_database_url: Callable[[], str]
) -> None:
    empty = new_database_url()
    workers = [
        start_worker("--burst", DATABASE_URL=empty, MIGRATE_ON_START="true") for _ in range(4)
    ]

    codes = [worker.exit_code(timeout=120) for worker in workers]

    assert codes == [0, 0, 0, 0], "\n\n".join(worker.output for worker in workers)
    engine = make_engine(empty)
    try:
        assert migrations.schema_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()


def test_the_ingest_cli_adds_a_folder_and_waits(
    start_worker: StartWorker, worker_environment: dict[str, str], tmp_path: Path
) -> None:
    start_worker()
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_bytes(TEXT)
    (folder / "b.txt").write_bytes(b"\x00\x01 not text")
    result = subprocess.run(
        [
            Path(sys.executable).with_name("ingest"),
            "add",
            str(folder),
            "--workspace",
            str(WORKSPACE),
            "--wait",
        ],
        env=worker_environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert rows["a.txt"][0] == "ready" and int(rows["a.txt"][1]) >= 1
    assert rows["b.txt"][:2] == ["failed:", "unsupported_media_type"]


def test_an_unused_metrics_token_is_warned_about_without_showing_it(
    start_worker: StartWorker,
) -> None:
    worker = start_worker("run", "--burst", METRICS_TOKEN="t0ken-never-shown")
    assert worker.exit_code() == 0
    assert "METRICS_TOKEN: set, but METRICS_REQUIRE_AUTH is false" in worker.output
    assert "t0ken-never-shown" not in worker.output
