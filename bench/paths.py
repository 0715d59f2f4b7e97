"""Where things are, and the environment of the processes the harness starts."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
REPORT_MARKDOWN = REPO / "docs" / "performance.md"


def shown(path: Path) -> str:
    """`path` as reports and messages show it: relative to the repository when inside it, so
    nothing written names the machine's directories."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def without_repository(text: str) -> str:
    """`text` (an error message, say) with the repository's absolute path taken out of its paths."""
    return text.replace(f"{REPO}{os.sep}", "")


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment plus `overrides`, offline for Hugging Face. Children run from
    the repository root with `python -m`, so they import `bench` and the installed packages as
    this process does."""
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.update(overrides)
    return env
