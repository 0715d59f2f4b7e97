"""Where things are, and how the repository's packages become importable without installing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
OUT = REPO / "bench" / "out"
REPORT_MARKDOWN = REPO / "docs" / "performance.md"


def ensure_importable() -> None:
    """Put `src/` and the repository root on `sys.path` (idempotent)."""
    for path in (str(SRC), str(REPO)):
        if path not in sys.path:
            sys.path.insert(0, path)


def child_environment(**overrides: str) -> dict[str, str]:
    """The environment for a subprocess that must import `bench` and the `src/` packages."""
    env = dict(os.environ)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(REPO), *inherited])
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.update(overrides)
    return env
