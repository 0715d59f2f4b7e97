"""`ingest add --wait`: progress while waiting, a warning when no worker consumes the queue, then
a table of each document's status, chunks and processing time, and a total line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.worker import WorkerProcess

from .process import run_ingest

WORKSPACE = "0b4c2f9e-55a1-4c3e-9d7e-3f7f1a2b6c8d"


def test_waiting_shows_each_document_and_a_total(
    worker_environment: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "a.txt").write_text("The first document.\n\nIt has two paragraphs.\n")
    (folder / "b.md").write_text("# Second\n\nA markdown document.\n")
    start_worker().wait_until_consuming()

    result = run_ingest(
        worker_environment, tmp_path, "add", "upload", "--workspace", WORKSPACE, "--wait"
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("a.", "b."))]
    assert [row[:2] for row in rows] == [["a.txt", "ready"], ["b.md", "ready"]]
    assert all(int(row[2]) >= 1 and float(row[3]) >= 0 for row in rows)
    total = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"2 documents, \d+ chunks, [\d.]+ MB in [\d.]+ s \([\d.]+ documents/s\)", total
    ), total


def test_waiting_says_when_no_worker_consumes_the_queue(
    worker_environment: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("Nobody will process this.\n")

    result = run_ingest(
        worker_environment,
        tmp_path,
        "add",
        "a.txt",
        "--workspace",
        WORKSPACE,
        "--wait",
        "--timeout",
        "6",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no worker is consuming the queue ingestion" in result.stderr
    assert "python -m worker" in result.stderr
    assert re.search(r"waiting: 0 of 1 finished", result.stderr), result.stderr
