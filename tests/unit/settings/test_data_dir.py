"""DATA_DIR's default: one folder per user, whatever the current folder, reachable by the
embedded Postgres's own user when running as root."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.settings import default_data_dir


def test_the_default_follows_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    assert default_data_dir() == tmp_path / "ingestion-worker"


def test_a_user_gets_a_folder_in_their_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("os.geteuid", lambda: 1000)

    assert default_data_dir() == tmp_path / ".local" / "share" / "ingestion-worker"


def test_root_gets_a_folder_outside_its_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setattr("os.geteuid", lambda: 0)

    assert default_data_dir() == Path("/var/lib/ingestion-worker")
