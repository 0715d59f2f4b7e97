"""The `ingest` command line, run in-process against the session's real Redis and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker

from infrastructure import cli
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings

Ingest = Callable[..., tuple[int, str]]


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

    header, _rule, row, workers = out.splitlines()
    assert code == 0
    assert header.split() == ["queue", "queued", "started", "scheduled", "deferred", "failed"]
    assert row.split() == [worker_settings.queue_name, "3", "0", "0", "0", "0"]
    assert workers.startswith("workers: 1 (")
