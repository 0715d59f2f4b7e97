"""The peers' own virtualenv: what it is built from, when it counts as built, and what the peer
processes need from the project (no service, no build: the real build is minutes and GBs)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from bench.paths import REPO
from packaging.requirements import Requirement

from bench import cli, peer_venv

PEERS = ("llama-index", "langchain-community", "langchain-postgres", "langchain-core")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", line
            pins[requirement.name.lower().replace("_", "-")] = specifiers[0].version
    return pins


def test_the_lock_pins_every_package_exactly_and_leaves_torch_to_its_own_step() -> None:
    lock = _pins(peer_venv.REQUIREMENTS)
    wanted = _pins(peer_venv.REQUIREMENTS.with_name("requirements.in"))

    assert "torch" not in lock and "torch" not in wanted
    assert peer_venv.TORCH == "torch==2.13.0"
    assert {name: lock.get(name) for name in wanted} == wanted
    assert lock["sqlalchemy"].startswith("2.0.") and lock["pgvector"].startswith("0.3.")


def test_the_projects_own_extras_name_no_peer() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    names = [Requirement(r).name for group in extras.values() for r in group]

    assert not [n for n in [*names, *project["dependencies"]] if n.startswith(PEERS)]


def test_the_venv_counts_as_built_only_for_the_lock_it_was_built_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("numpy==2.4.6\n", encoding="utf-8")
    monkeypatch.setattr(peer_venv, "REQUIREMENTS", lock)
    monkeypatch.setattr(peer_venv, "STAMP", tmp_path / "venv" / ".installed")
    assert not peer_venv.is_built()

    peer_venv.STAMP.parent.mkdir()
    peer_venv.STAMP.write_text(peer_venv._lock_digest() + "\n", encoding="utf-8")
    assert peer_venv.is_built()

    lock.write_text("numpy==2.4.7\n", encoding="utf-8")
    assert not peer_venv.is_built()


def test_the_peer_scripts_reach_the_projects_embedders_with_numpy_alone() -> None:
    """What `bench.peer_embedders` imports from the project must run in the peers' venv, where the
    project's own dependencies are not installed: the standard library and numpy only."""
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import bench.peer_embedders, infrastructure.embeddings.hashing\n"
        "import infrastructure.embeddings.sentence_transformer\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(json.dumps(sorted(n for n in new if n not in sys.stdlib_module_names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=peer_venv.environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    imported = set(json.loads(done.stdout))
    assert imported <= {"bench", "application", "domain", "infrastructure", "numpy"}
    assert "numpy" in imported


def test_a_peer_process_finds_the_projects_src_and_the_harness_on_its_path() -> None:
    path = peer_venv.environment()["PYTHONPATH"].split(":")

    assert path[:2] == [str(REPO / "src"), str(REPO)]
    assert peer_venv.python().is_relative_to(REPO / "bench" / "out")


def test_the_peers_run_only_when_asked() -> None:
    assert "peers" not in cli._blocks(None, with_peers=False)
    assert cli._blocks(None, with_peers=True)[-1] == "peers"
    assert cli._blocks("peers", with_peers=False) == ("peers",)
