"""WORKER_MODE=inline: `python -m worker` runs each job in its own process (no work horse), with
the same rules as the forking worker: allow-list, JSON, retries, timeouts, metrics, shutdown."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from redis import Redis
from rq.job import JobStatus
from sqlalchemy import Engine, event

from bootstrap import Container
from domain import DocumentStatus
from infrastructure.local.redis import RedisServer
from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings, WorkerMode
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
from tests.faults.harness import FaultWorld, small_document, wait_until
from tests.faults.worlds import fresh_database, module_root, restartable_redis, world
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.unit.observability.metrics_text import sample
from worker.runtime import WorkerRuntime, install
from worker.worker import work_until_stopped, worker_class_for

__all__ = ["fresh_database", "module_root", "restartable_redis", "world"]

INLINE = {"WORKER_MODE": "inline"}
STAGES = ("read", "extract", "chunk", "embed", "write")


def test_submitted_documents_become_ready_in_the_worker_process(
    start_worker: StartWorker, app_container: Container
) -> None:
    worker = start_worker(**INLINE)
    documents = [submit(app_container, f"doc{i}.txt") for i in range(3)]
    ready = [wait_for_status(app_container, d, DocumentStatus.READY) for d in documents]
    assert all(document.chunk_count >= 1 for document in ready)
    assert "jobs run in the worker process" in worker.output
    assert worker.process.poll() is None


def test_a_malformed_uuid_fails_once_without_retry(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis
) -> None:
    start_worker(**INLINE)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "not-a-uuid", str(WORKSPACE))
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "document_id: 'not-a-uuid' is not a UUID" in str(job.latest_result().exc_string)
    assert job.retries_left == 0
    assert len(job.results()) == 1


def test_a_job_naming_another_callable_fails_without_running(
    start_worker: StartWorker, worker_settings: Settings, redis_connection: Redis, tmp_path: Path
) -> None:
    start_worker(**INLINE)
    witness = tmp_path / "witness"
    job_id = rq_enqueue(worker_settings, "os.system", f"touch {witness}")
    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert "refused to run 'os.system'" in str(job.latest_result().exc_string)
    assert not witness.exists()


def test_metrics_label_a_failed_job_as_a_failure(
    start_worker: StartWorker,
    worker_settings: Settings,
    redis_connection: Redis,
    app_container: Container,
) -> None:
    worker = start_worker(**INLINE)
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)
    failed = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "not-a-uuid", str(WORKSPACE))
    wait_for_job(redis_connection, failed)
    wait_for_status(app_container, submit(app_container, "after.txt"), DocumentStatus.READY)

    text = scrape_until_jobs_counted(url, 1)

    assert sample(text, "ingestion_jobs_total", **JOB, outcome="failure") == 1
    assert sample(text, "ingestion_jobs_total", **JOB, outcome="success") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_count_every_job_and_stage(
    start_worker: StartWorker, app_container: Container, workers: str
) -> None:
    worker = start_worker("run", "--workers", workers, **INLINE)
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)
    documents = [submit(app_container, f"doc{i}.txt") for i in range(4)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)

    text = scrape_until_jobs_counted(url, len(documents))

    assert sample(text, "ingestion_jobs_total", **JOB, outcome="success") == len(documents)
    assert sample(text, "ingestion_job_duration_seconds_count", **JOB) == len(documents)
    for stage in STAGES:
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage) == 4
    assert sample(text, "ingestion_documents_total", outcome="ready") == len(documents)


def test_a_job_past_its_timeout_is_stopped_and_its_retry_runs(
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
        **INLINE,
    )
    document = register_without_enqueuing(app_container)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))

    job = wait_for_job(redis_connection, job_id)
    assert worker.wait_for_line(r"JobTimeoutException: .*\(1 seconds\)")
    assert job.get_status() == JobStatus.FINISHED
    assert load(app_container, document).attempts == 2
    assert worker.process.poll() is None


@pytest.mark.slow
def test_a_redis_restart_during_a_job_is_ridden_out(
    world: FaultWorld, restartable_redis: RedisServer
) -> None:
    worker = world.start_worker(**INLINE)
    worker.wait_until_consuming()
    workspace = uuid4()
    big = world.submit(workspace, "big.txt", large_text(200_000)).id
    wait_until(lambda: world.rows([big])[big].status == "processing", 30, "the job to start")
    restartable_redis.stop()
    restartable_redis.start()
    small = world.submit(workspace, *small_document(0)).id
    rows = world.wait_for_final([big, small], 90)
    assert [rows[big].status, rows[small].status] == ["ready", "ready"]
    assert worker.process.poll() is None


@pytest.fixture
def inline_container(app_container: Container) -> Iterator[Container]:
    """`app_container` set to WORKER_MODE=inline and used by this process's job functions."""
    settings: Settings = app_container.resolve(Settings)
    inline = settings.model_copy(update={"worker_mode": WorkerMode.INLINE})
    app_container.register(Settings, instance=inline)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    install(WorkerRuntime(app_container))
    yield app_container
    install(None)
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_inline_jobs_fork_nothing_and_reuse_pooled_connections(
    inline_container: Container, redis_connection: Redis
) -> None:
    settings: Settings = inline_container.resolve(Settings)
    engine: Engine = inline_container.resolve(Engine)
    documents = [submit(inline_container, f"doc{i}.txt") for i in range(4)]
    engine.dispose()
    forks: list[int] = []
    connects: list[object] = []
    os.register_at_fork(before=lambda: forks.append(1))
    event.listen(engine, "connect", lambda *_: connects.append(1))

    work_until_stopped(
        worker_class_for(settings),
        settings.queues,
        redis_connection,
        burst=True,
        logging_level="WARNING",
    )
    during = (len(forks), len(connects))

    assert [load(inline_container, d).status for d in documents] == [DocumentStatus.READY] * 4
    assert during[0] == 0
    assert 1 <= during[1] <= 2  # one connection, kept in the pool across 4 jobs of 5 transactions
