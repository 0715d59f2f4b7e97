"""With no DATA_DIR, `ingest` finds the one set of embedded services of this user (in the per-user
data directory) from any folder, and its first line says which services it uses."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_readme_snippets import BOOT_SECONDS, assert_nothing_left
from tests.integration.cli.process import run_ingest

pytestmark = pytest.mark.timeout(4 * BOOT_SECONDS)


@pytest.fixture
def home() -> Iterator[Path]:
    """A user's home of its own (outside pytest's private temp root, for the `pgserver` user)."""
    folder = Path(tempfile.mkdtemp(prefix="ingest-home-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def user_environment(home: Path) -> dict[str, str]:
    kept = ("PATH", "LANG", "PYTHONPATH", "HF_HUB_OFFLINE", "TMPDIR")
    environment = {key: os.environ[key] for key in kept if key in os.environ}
    return {**environment, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}


def test_ingest_from_two_folders_uses_the_same_embedded_services(home: Path) -> None:
    first, second = home / "project", home / "elsewhere"
    first.mkdir()
    second.mkdir()
    environment = user_environment(home)
    data_dir = home / "data" / "ingestion-worker"

    migrated = run_ingest(environment, first, "migrate")
    status = run_ingest(environment, second, "status")

    assert migrated.returncode == 0, migrated.stderr
    assert status.returncode == 0, status.stderr
    announced = f"using the embedded Postgres and Redis in {data_dir}"
    assert migrated.stderr.splitlines()[0] == announced
    assert status.stderr.splitlines()[0] == announced
    assert (data_dir / "postgres").is_dir()
    assert not (first / "var").exists() and not (second / "var").exists()
    assert_nothing_left(home)


def test_configured_services_are_named_with_their_password_masked(
    worker_environment: dict[str, str], tmp_path: Path
) -> None:
    result = run_ingest(
        worker_environment, tmp_path, "status", DATABASE_URL="postgresql://me:secret@127.0.0.1:9/x"
    )

    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("using DATABASE_URL postgresql://me:***@127.0.0.1:9/x and ")
    assert f"REDIS_URL {worker_environment['REDIS_URL']}" in first_line
