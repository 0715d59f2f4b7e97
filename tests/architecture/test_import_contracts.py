"""The import contracts hold, and they would catch a violation: each is broken on a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), str(project / "importlinter.ini"), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "importlinter.ini", tmp_path / "importlinter.ini")
    return tmp_path


def test_the_project_keeps_every_contract(project_copy: Path) -> None:
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "offending_import", "broken_contract"),
    [
        ("domain/document.py", "import sqlalchemy", "import no framework"),
        ("application/errors.py", "import redis", "import no framework"),
        ("domain/chunk.py", "import application.errors", "point inward"),
        ("application/ports/queue.py", "import infrastructure.memory", "point inward"),
        ("worker/__init__.py", "from domain import Document", "worker stays thin"),
        ("worker/__init__.py", "import infrastructure.db", "worker stays thin"),
        ("infrastructure/memory/queue.py", "import infrastructure.embeddings", "do not import"),
        ("infrastructure/queue/rq_queue.py", "import infrastructure.local", "do not import"),
        ("infrastructure/db/engine.py", "import bootstrap", "point inward"),
        ("bootstrap/builders.py", "import cli", "point inward"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    project_copy: Path, module: str, offending_import: str, broken_contract: str
) -> None:
    target = project_copy / "src" / module
    target.write_text(target.read_text() + f"\n{offending_import}  # noqa\n")

    result = lint_imports(project_copy)

    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert any(broken_contract in line for line in broken), result.stdout
