"""`ingest add` imports what submitting and waiting need, and none of what only a worker or a
migration uses: a short submission's time was mostly imports (Alembic, the extractors' parsing
libraries and numpy among them)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cli.main
from cli import launch

from .process import COMMAND_SECONDS

WORKSPACE = "3c9a1e57-0d2b-4f86-b1a4-7e6f2d8c5b19"
#: Loaded by migrating, extracting, chunking or embedding; never by submitting or waiting.
WORKER_ONLY = ("alembic", "mako", "numpy", "pypdfium2", "docx", "lxml", "selectolax", "markdown_it")

#: Runs `ingest add` as `python -m cli` does, then says which of `WORKER_ONLY` it imported.
_ADD_THEN_LIST_MODULES = f"""
import json, sys
from cli.launch import main
code = main(sys.argv[1:])
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({WORKER_ONLY!r}))
print(json.dumps({{"exit": code, "imported": loaded}}))
"""


def test_submitting_and_waiting_import_nothing_only_a_worker_uses(
    worker_environment: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("Submitting needs no parser.\n")
    command = ["add", "a.txt", "--workspace", WORKSPACE, "--wait", "--timeout", "0"]

    result = subprocess.run(
        [sys.executable, "-c", _ADD_THEN_LIST_MODULES, *command],
        cwd=tmp_path,
        env=worker_environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )

    report = json.loads(result.stdout.strip().splitlines()[-1])
    # No worker runs: the document stays queued, and waiting gives up at once (exit 1).
    assert report == {"exit": 1, "imported": []}, result.stderr
    assert "a.txt" in result.stdout
    assert "gave up waiting" in result.stderr


def test_the_entry_point_runs_the_command_with_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collecting: list[bool] = []

    def command(argv: list[str]) -> int:
        collecting.append(gc.isenabled())
        return 3

    monkeypatch.setattr(cli.main, "main", command)
    try:
        assert launch.main(["status"]) == 3
    finally:
        gc.unfreeze()

    assert collecting == [True]
    assert gc.isenabled()
