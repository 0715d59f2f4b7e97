"""`ingest add DIR` goes file by file: a file that cannot be submitted is listed with its code,
the others are still submitted, and the exit code says that one failed."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from infrastructure.observability import read_queue_stats
from infrastructure.settings import Settings

from .process import run_ingest

WORKSPACE = "0b4c2f9e-55a1-4c3e-9d7e-3f7f1a2b6c8d"


def test_a_folder_goes_on_past_a_bad_file_and_lists_every_file(
    worker_environment: dict[str, str],
    worker_settings: Settings,
    redis_connection: Redis,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "a.txt").write_text("first file\n")
    (folder / "b-empty.txt").touch()
    (folder / "c.txt").write_text("third file\n")

    result = run_ingest(worker_environment, tmp_path, "add", "upload", "--workspace", WORKSPACE)

    rows = {line.split()[0]: line for line in result.stdout.splitlines() if "upload/" in line}
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert set(rows) == {"upload/a.txt", "upload/b-empty.txt", "upload/c.txt"}
    assert "empty_document" in rows["upload/b-empty.txt"]
    assert "queued" in rows["upload/a.txt"] and "queued" in rows["upload/c.txt"]
    stats = read_queue_stats(redis_connection, worker_settings.queues)
    assert stats.jobs[(worker_settings.queue_name, "queued")] == 2
