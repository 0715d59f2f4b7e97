"""WORKER_MODE=pool under fire: a crash, a hang and a memory overrun in the executor process
each cost the job in hand, the next job runs in a fresh executor, and nothing else is lost; a
document that crashes its executor twice is failed for good."""

from __future__ import annotations

import contextlib
import re
import signal

import psutil
import pytest
from redis import Redis
from rq.job import JobStatus

from bootstrap import Container
from domain import Document, DocumentStatus
from infrastructure.observability import IngestionMetrics, MetricsRelay
from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings
from tests.e2e.test_worker_pool_metrics import scrape
from tests.e2e.test_worker_process import (
    WORKSPACE,
    StartWorker,
    load,
    register_without_enqueuing,
    rq_enqueue,
    submit,
    wait_for_job,
    wait_for_status,
)
from tests.faults.harness import wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.fixtures.worker import WorkerProcess
from tests.unit.observability.metrics_text import sample
from worker.executor import JobCall, JobExecutor


def start_pool_worker(
    start_worker: StartWorker, server: EmbeddingServer, **overrides: str
) -> WorkerProcess:
    return start_worker(
        WORKER_MODE="pool",
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=server.url,
        EMBEDDING_MODEL="test-embedder",
        EMBEDDING_TIMEOUT="60",
        **overrides,
    )


READY = DocumentStatus.READY


def enqueue(app_container: Container, worker_settings: Settings) -> Document:
    document = register_without_enqueuing(app_container)
    rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))
    return document


def enqueue_held_document(
    app_container: Container, worker_settings: Settings, server: EmbeddingServer, held: int
) -> tuple[Document, str]:
    """A document whose job waits in the executor on embedding request number `held`."""
    document = register_without_enqueuing(app_container)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))
    wait_until(lambda: len(server.requests) >= held, 30, "the job to reach the embedder")
    return document, job_id


def restarts(worker: WorkerProcess, reason: str, at_least: int = 1) -> float:
    """`ingestion_executor_restarts_total{reason}` on the worker's /metrics, once it is at
    least `at_least` (a replacement is counted as the worker starts it)."""
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)

    def counted() -> float:
        return sample(scrape(url), "ingestion_executor_restarts_total", reason=reason)

    wait_until(lambda: counted() >= at_least, 30, f"{at_least} {reason} restarts on /metrics")
    return counted()


def busy_executor(worker: WorkerProcess, server: EmbeddingServer) -> psutil.Process:
    """The executor (of any of the worker's processes) holding a connection to `server`."""
    port = int(server.url.rsplit(":", 1)[1])

    def find() -> psutil.Process | None:
        for process in psutil.Process(worker.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if any(c.raddr and c.raddr.port == port for c in process.net_connections("tcp")):
                    return process
        return None

    found: psutil.Process = wait_until(find, 30, "the executor talking to the embedder")
    return found


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_executor_crash_is_counted_on_metrics(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
    redis_connection: Redis,
    workers: str,
) -> None:
    embedding_server.script(Reply(hold=True))
    worker = start_pool_worker(start_worker, embedding_server, WORKERS=workers)
    _, job_id = enqueue_held_document(app_container, worker_settings, embedding_server, held=1)
    busy_executor(worker, embedding_server).send_signal(signal.SIGABRT)  # as os.abort() would

    assert wait_for_job(redis_connection, job_id).get_status() == JobStatus.FINISHED
    assert restarts(worker, "crash") == 1
    assert restarts(worker, "timeout", at_least=0) == 0


def test_an_executor_killed_between_jobs_is_replaced_for_the_next_job(
    start_worker: StartWorker, app_container: Container, embedding_server: EmbeddingServer
) -> None:
    worker = start_pool_worker(start_worker, embedding_server)
    wait_for_status(app_container, submit(app_container, "first.txt"), READY)
    idle = worker.executor()
    idle.kill()  # as the OOM killer picks the largest process, the executor holding the model
    wait_until(lambda: not _alive(idle), 30, "the idle executor to die")

    after = wait_for_status(app_container, submit(app_container, "second.txt"), READY)

    assert after.attempts == 1
    assert restarts(worker, "crash") == 1
    assert worker.executor().pid != idle.pid
    assert worker.process.poll() is None


def test_a_job_sent_to_an_executor_dying_that_instant_runs_in_its_replacement(
    worker_settings: Settings,
) -> None:
    metrics = IngestionMetrics()
    executor = JobExecutor(worker_settings, MetricsRelay(metrics), frozenset({"builtins.len"}))
    count = JobCall("builtins.len", ([1, 2, 3],), {})
    try:
        assert executor.run(count, timeout=30) == 3
        dying = _executor_of_this_process()
        dying.kill()  # and the job goes out at once, before the death can be seen

        assert executor.run(count, timeout=30) == 3
        assert _executor_of_this_process().pid != dying.pid
        assert sample(metrics, "ingestion_executor_restarts_total", reason="crash") == 1
    finally:
        executor.stop()
        metrics.shutdown()


def _executor_of_this_process() -> psutil.Process:
    """The live process this test process's fork server started (its executor)."""
    for process in psutil.Process().children(recursive=True):
        parent = process.parent()
        if parent and "forkserver" in " ".join(parent.cmdline()) and _alive(process):
            return process
    raise AssertionError("no executor process")


def retried_for(worker: WorkerProcess, job_id: str) -> list[str]:
    """The codes of the failures the job was retried after, as the worker logged them."""
    return re.findall(rf"job {job_id} failed, to be retried: (\w+)", worker.output)


def assert_failed_for_good(
    app_container: Container, document: Document, code: str, attempts: int
) -> Document:
    """The document as stored: `failed` with `code` after `attempts` attempts."""
    failed = load(app_container, document)
    assert (failed.status, failed.error_code, failed.attempts) == (
        DocumentStatus.FAILED,
        code,
        attempts,
    )
    return failed


def assert_the_next_job_runs(
    app_container: Container, worker_settings: Settings, worker: WorkerProcess
) -> None:
    """A new document is ready at its first attempt, and the worker process lives on."""
    after = wait_for_status(app_container, enqueue(app_container, worker_settings), READY)
    assert after.attempts == 1
    assert worker.process.poll() is None


def test_a_crash_costs_one_job_and_the_next_runs_in_a_fresh_executor(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
    redis_connection: Redis,
) -> None:
    embedding_server.script(Reply(hold=True))
    worker = start_pool_worker(start_worker, embedding_server)
    document, job_id = enqueue_held_document(
        app_container, worker_settings, embedding_server, held=1
    )
    crashed = worker.executor()
    crashed.send_signal(signal.SIGSEGV)  # as a native crash in a parser would

    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert retried_for(worker, job_id) == ["executor_crashed"]
    assert load(app_container, document).attempts == 2
    after = wait_for_status(app_container, enqueue(app_container, worker_settings), READY)
    assert after.attempts == 1
    assert worker.executor().pid != crashed.pid
    assert worker.executors_started() == 2
    assert worker.process.poll() is None


def test_a_document_crashing_its_executor_twice_is_failed_for_good(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
    redis_connection: Redis,
) -> None:
    embedding_server.script(Reply(hold=True), Reply(hold=True))
    worker = start_pool_worker(start_worker, embedding_server)
    document, job_id = enqueue_held_document(
        app_container, worker_settings, embedding_server, held=1
    )
    worker.executor().send_signal(signal.SIGSEGV)
    wait_until(lambda: len(embedding_server.requests) >= 2, 30, "the retry to reach the embedder")
    worker.executor().send_signal(signal.SIGABRT)

    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert job.retries_left == 0
    assert retried_for(worker, job_id) == ["executor_crashed"]
    assert job.meta["error"]["code"] == "crashed_executor_twice"
    assert_failed_for_good(app_container, document, "crashed_executor_twice", 2)
    assert_the_next_job_runs(app_container, worker_settings, worker)


def test_a_hang_deaf_to_its_timeout_costs_one_job_and_the_next_runs_in_a_fresh_executor(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
    redis_connection: Redis,
) -> None:
    embedding_server.script(Reply(hold=True))
    worker = start_pool_worker(start_worker, embedding_server, JOB_TIMEOUT="2")
    document, job_id = enqueue_held_document(
        app_container, worker_settings, embedding_server, held=1
    )
    hung = worker.executor()
    hung.suspend()  # stopped, it cannot even take the timeout's alarm, as native code may not

    job = wait_for_job(redis_connection, job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert retried_for(worker, job_id) == ["timeout"]
    assert load(app_container, document).attempts == 2
    assert not hung.is_running()
    after = wait_for_status(app_container, enqueue(app_container, worker_settings), READY)
    assert after.attempts == 1
    assert worker.executors_started() == 2
    assert restarts(worker, "timeout") == 1
    assert worker.process.poll() is None


def test_an_executor_above_its_memory_limit_is_replaced_after_its_job(
    start_worker: StartWorker, app_container: Container, embedding_server: EmbeddingServer
) -> None:
    worker = start_pool_worker(start_worker, embedding_server, EXECUTOR_MAX_RSS="1")
    documents = [submit(app_container, f"doc{i}.txt") for i in range(3)]
    ready = [wait_for_status(app_container, d, DocumentStatus.READY) for d in documents]

    assert [document.attempts for document in ready] == [1, 1, 1]
    wait_until(lambda: worker.executors_started() == 4, 30, "a fresh executor after each job")
    assert worker.output.count("(EXECUTOR_MAX_RSS 0 MiB): replacing it") == 3
    assert restarts(worker, "max_rss", at_least=3) == 3
    assert worker.process.poll() is None


def test_an_executor_is_replaced_after_its_job_limit(
    start_worker: StartWorker, app_container: Container, embedding_server: EmbeddingServer
) -> None:
    worker = start_pool_worker(start_worker, embedding_server, EXECUTOR_MAX_JOBS="2")
    documents = [submit(app_container, f"doc{i}.txt") for i in range(4)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)

    wait_until(lambda: worker.executors_started() == 3, 30, "a fresh executor every two jobs")
    assert restarts(worker, "max_jobs", at_least=2) == 2
    assert worker.process.poll() is None


def test_an_executor_does_not_outlive_its_killed_worker(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    embedding_server: EmbeddingServer,
) -> None:
    embedding_server.script(Reply(hold=True))
    worker = start_pool_worker(start_worker, embedding_server)
    enqueue_held_document(app_container, worker_settings, embedding_server, held=1)
    executor = worker.executor()
    family = psutil.Process(worker.process.pid).children(recursive=True)
    try:
        worker.process.kill()  # the worker alone, as the OOM killer would
        worker.process.wait(10)
        wait_until(lambda: not _alive(executor), 30, "the executor to exit")
    finally:
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
