"""`ingest` run as a user runs it: `python -m cli ARGS...` in its own process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: A command that needs neither the embedded services nor a slow dependency answers within this.
COMMAND_SECONDS = 120.0


def run_ingest(
    environment: Mapping[str, str], cwd: Path, *args: str, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """Run `ingest ARGS...` in `cwd` with `environment` plus `overrides`; capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        env={**environment, **overrides},
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The last stderr line, after checking that stderr holds no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, f"nothing on stderr; stdout:\n{result.stdout}"
    return lines[-1]
