"""`ingest add` of a file already in the workspace (same name, same bytes) returns its document
and enqueues nothing, unless `--force`."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from infrastructure.observability import read_queue_stats
from infrastructure.settings import Settings

from .process import run_ingest

WORKSPACE = "0b4c2f9e-55a1-4c3e-9d7e-3f7f1a2b6c8d"


def document_ids(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("notes.txt")]


def test_adding_the_same_file_twice_returns_the_same_document_until_forced(
    worker_environment: dict[str, str],
    worker_settings: Settings,
    redis_connection: Redis,
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("Some words worth indexing.\n")
    add = ("add", "notes.txt", "--workspace", WORKSPACE)

    first = run_ingest(worker_environment, tmp_path, *add)
    again = run_ingest(worker_environment, tmp_path, *add)
    jobs_before_force = read_queue_stats(redis_connection, worker_settings.queues)
    forced = run_ingest(worker_environment, tmp_path, *add, "--force")

    assert [first.returncode, again.returncode, forced.returncode] == [0, 0, 0], forced.stderr
    assert document_ids(again.stdout) == document_ids(first.stdout)
    assert document_ids(forced.stdout) != document_ids(first.stdout)
    assert jobs_before_force.jobs[(worker_settings.queue_name, "queued")] == 1
    stats = read_queue_stats(redis_connection, worker_settings.queues)
    assert stats.jobs[(worker_settings.queue_name, "queued")] == 2
