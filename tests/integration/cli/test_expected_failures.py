"""Expected conditions end `ingest` with one line naming the thing and what to do, never a
traceback: exit code 1 for a dependency or state, 2 for usage or settings."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

from .process import one_line_error, run_ingest

Ingest = Callable[..., subprocess.CompletedProcess[str]]
WORKSPACE = "0b4c2f9e-55a1-4c3e-9d7e-3f7f1a2b6c8d"


@pytest.fixture
def ingest(worker_environment: dict[str, str], tmp_path: Path) -> Ingest:
    def run(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return run_ingest(worker_environment, tmp_path, *args, **overrides)

    return run


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("Some words worth indexing.\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("requeue", "--failed"),
        ("add", "notes.txt", "--workspace", WORKSPACE),
    ],
)
def test_an_unmigrated_database_names_ingest_migrate(
    ingest: Ingest, new_database_url: Callable[[], str], text_file: Path, args: tuple[str, ...]
) -> None:
    result = ingest(*args, DATABASE_URL=new_database_url())

    line = one_line_error(result)
    assert result.returncode == 1
    assert "DATABASE_URL" in line and "ingest migrate" in line


@pytest.mark.parametrize("args", [("status",), ("add", "notes.txt", "--workspace", WORKSPACE)])
def test_an_unreachable_postgres_is_named(
    ingest: Ingest, text_file: Path, args: tuple[str, ...]
) -> None:
    result = ingest(*args, DATABASE_URL="postgresql://ingest:secret@127.0.0.1:9/rag")

    line = one_line_error(result)
    assert result.returncode == 1
    assert line.startswith("ingest: DATABASE_URL: postgresql://ingest:***@127.0.0.1:9/rag")
    assert "secret" not in result.stderr


@pytest.mark.parametrize("args", [("queue",), ("add", "notes.txt", "--workspace", WORKSPACE)])
def test_an_unreachable_redis_is_named(
    ingest: Ingest, text_file: Path, args: tuple[str, ...]
) -> None:
    result = ingest(*args, REDIS_URL="redis://:secret@127.0.0.1:9/0")

    line = one_line_error(result)
    assert result.returncode == 1
    assert line.startswith("ingest: REDIS_URL: redis://:***@127.0.0.1:9/0")


def test_a_missing_file_is_a_usage_error(ingest: Ingest) -> None:
    result = ingest("add", "nowhere.txt", "--workspace", WORKSPACE)

    assert result.returncode == 2
    assert "nowhere.txt: no such file or folder" in one_line_error(result)


def unreadable(folder: Path) -> Path:
    """A file this process cannot read. Root reads any file despite its mode, but not
    /proc/self/mem at offset 0, which is unmapped."""
    path = folder / "secret.txt"
    if os.geteuid() == 0:
        path.symlink_to("/proc/self/mem")
    else:
        path.write_text("hidden")
        path.chmod(0)
    return path


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda folder: folder.joinpath("empty.txt").touch(), "empty_document"),
        (lambda folder: folder.joinpath("big.txt").write_text("x" * 64), "too_large"),
        (unreadable, "unreadable_file"),
    ],
    ids=["empty", "too-large", "unreadable"],
)
def test_a_file_that_cannot_be_submitted_is_named_with_its_code(
    ingest: Ingest, tmp_path: Path, make: Callable[[Path], object], code: str
) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    make(folder)
    [path] = folder.iterdir()

    result = ingest("add", str(path), "--workspace", WORKSPACE, MAX_FILE_BYTES="32")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path.name}" in result.stdout and code in result.stdout, result.stdout


def test_an_unknown_document_is_named(ingest: Ingest) -> None:
    missing = uuid4()
    result = ingest("status", str(missing), "--workspace", WORKSPACE)

    assert result.returncode == 1
    assert one_line_error(result) == f"ingest: no document {missing}"


@pytest.mark.parametrize(
    "args",
    [("status", "not-a-uuid", "--workspace", WORKSPACE), ("add", "x.txt", "--workspace", "x")],
)
def test_a_bad_uuid_is_a_usage_error(ingest: Ingest, args: tuple[str, ...]) -> None:
    result = ingest(*args)

    assert result.returncode == 2
    assert "invalid UUID value" in one_line_error(result)


def test_a_document_id_without_its_workspace_is_a_usage_error(ingest: Ingest) -> None:
    result = ingest("status", str(uuid4()))

    assert result.returncode == 2
    assert "--workspace" in one_line_error(result)
