"""Stopping a busy worker: one SIGTERM finishes the job in hand and exits 0, leaving the queue to
the next worker; a second SIGTERM stops at once, and the job it cut short is rescued: by the
lease when its horse died with it (fork), by a retry when the worker process saw it cut short
(pool). The job in hand waits on the embedding server until the test has seen the request, in
each mode whose jobs run in a process of their own."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from uuid import UUID, uuid4

import psutil
import pytest

from tests.faults.harness import FaultWorld, Row, small_document, wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply
from tests.fixtures.worker import WorkerProcess

DOCUMENTS = 30
#: RQ ignores a second signal that comes less than a second after the first (see
#: `Worker.request_force_stop`): a pool sends one and the terminal another.
RQ_DOUBLE_SIGNAL_WINDOW = 1.0
#: Every worker here runs recovery each second (workers share one recovery slot per interval).
LEASED = {"JOB_TIMEOUT": "8", "PROCESSING_LEASE": "9", "RECOVERY_INTERVAL": "1"}
#: The modes whose job runs in another process than the worker's: a forked horse, an executor.
MODES = ["fork", "pool"]


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(world: FaultWorld) -> Iterator[None]:
    yield
    world.stop_workers()


@pytest.fixture
def held_embedding_server() -> Iterator[EmbeddingServer]:
    """An embedding server whose first answer waits until the test releases it."""
    server = EmbeddingServer(dimension=32)
    server.script(Reply(hold=True))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_finishes_the_job_in_hand_and_the_next_worker_the_rest(
    world: FaultWorld, held_embedding_server: EmbeddingServer, mode: str
) -> None:
    server = held_embedding_server
    workspace = uuid4()
    files = {}
    for index in range(DOCUMENTS):
        name, data = small_document(index)
        files[world.submit(workspace, name, data).id] = (name, data)

    worker = _openai_worker(world, server, mode)
    wait_until(lambda: server.requests, 30, "the first job to reach the embedder")
    [in_hand] = [key for key, row in world.rows(files).items() if row.status == "processing"]
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_line("warm shut down requested")
    assert worker.process.poll() is None, "a warm shutdown must wait for the job in hand"
    server.release.set()  # the job in hand goes on only once the request is seen
    assert worker.exit_code() == 0, worker.output

    after_exit = world.rows(files)
    assert after_exit[in_hand].status == "ready"
    assert {key for key, row in after_exit.items() if row.status != "queued"} == {in_hand}
    _assert_finished_after_the_request(worker, in_hand)

    successor = _openai_worker(world, server, mode)
    rows = world.wait_for_final(files, timeout=120)
    successor.process.send_signal(signal.SIGTERM)
    assert successor.exit_code() == 0
    assert _statuses(rows) == {"ready"}
    assert {document_id: rows[document_id].attempts for document_id in files} == dict.fromkeys(
        files, 1
    )
    stored = world.chunk_texts()
    for document_id, (name, data) in files.items():
        expected = world.expected_chunks(name, data)
        assert [content for _, content in stored[document_id]] == expected, name
        assert rows[document_id].chunk_count == len(expected), name


@pytest.mark.parametrize("mode", MODES)
def test_a_second_sigterm_stops_at_once_and_the_job_is_rescued(
    world: FaultWorld, held_embedding_server: EmbeddingServer, mode: str
) -> None:
    server = held_embedding_server
    document_id = world.submit(uuid4(), *small_document(1)).id
    worker = _openai_worker(world, server, mode)
    wait_until(lambda: server.requests, 30, "the job to reach the embedder")
    runner = _talking_to(worker, server)

    worker.process.send_signal(signal.SIGTERM)
    first = time.monotonic()
    worker.wait_for_line("warm shut down requested")
    _outlast_rq_double_signal_window(first)
    assert worker.process.poll() is None, "a warm shutdown must wait for the job in hand"
    worker.process.send_signal(signal.SIGTERM)

    assert worker.exit_code(timeout=10) == 0, worker.output  # RQ raises a bare SystemExit
    assert not server.release.is_set(), "the worker waited for the embedder after all"
    assert "cold shut down" in worker.output
    wait_until(lambda: not _alive(runner), 10, "the process running the job to end")
    assert world.rows([document_id])[document_id].status == "processing"

    server.release.set()
    rescuer = _openai_worker(world, server, mode)
    rows = world.wait_for_final([document_id], timeout=60)
    assert (rows[document_id].status, rows[document_id].attempts) == ("ready", 2)
    if mode == "fork":  # the horse died with the job, which only the lease frees
        rescuer.wait_for_line(r"recovered abandoned work: documents 1 requeued")
    else:  # the worker process itself saw its job cut short, and handed it back at once
        assert "failed, to be retried: worker_died" in worker.output


def _openai_worker(world: FaultWorld, server: EmbeddingServer, mode: str) -> WorkerProcess:
    return world.start_worker(
        WORKER_MODE=mode,
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=server.url,
        EMBEDDING_MODEL="test-embedder",
        **LEASED,
    )


def _outlast_rq_double_signal_window(first_signal: float) -> None:
    """Let RQ's one-second window for duplicate signals pass, so the next one counts."""
    remaining = first_signal + RQ_DOUBLE_SIGNAL_WINDOW + 0.2 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _assert_finished_after_the_request(worker: WorkerProcess, document_id: UUID) -> None:
    """The worker logged the shutdown request, then finished exactly this document."""
    lines = worker.lines
    requested = next(i for i, line in enumerate(lines) if "warm shut down requested" in line)
    finished = [line for line in lines[requested:] if ": ready, " in line]
    assert len(finished) == 1 and f"document {document_id}: ready" in finished[0], lines


def _talking_to(worker: WorkerProcess, server: EmbeddingServer) -> psutil.Process:
    """The process running the job (a work horse, an executor): the worker's descendant
    holding a connection to the embedding server."""
    port = int(server.url.rsplit(":", 1)[1])
    [runner] = [
        process
        for process in psutil.Process(worker.process.pid).children(recursive=True)
        if any(c.raddr and c.raddr.port == port for c in process.net_connections("tcp"))
    ]
    return runner


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _statuses(rows: dict[UUID, Row]) -> set[str]:
    return {row.status for row in rows.values()}


def _count(rows: dict[UUID, Row], status: str) -> int:
    return sum(row.status == status for row in rows.values())
