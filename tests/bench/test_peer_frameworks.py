"""The peers' pipelines on the project's samples, into a real Postgres, run as the benchmark runs
them (`python -m bench.peer_process` with the peers' own virtualenv): what they report is what
they stored, and their HNSW index has the benchmark's settings.

The peers' virtualenv is several GB and minutes to build, so it is never built here: without it
(`make peers-venv`) these tests are skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from bench.paths import REPO
from sqlalchemy import make_url

from bench import peer_venv

pytestmark = pytest.mark.skipif(
    not peer_venv.is_built(),
    reason="the peers' virtualenv (bench/out/peers-venv) is not built; `make peers-venv` builds it",
)

SAMPLES = REPO / "samples"
#: A peer process's bound here (the samples take seconds; the first import of a framework more).
PEER_TIMEOUT = 240


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    directory = tmp_path / "documents"
    shutil.copytree(SAMPLES, directory)
    return directory


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        return connection.execute(query).fetchall()


def _peer(framework: str, documents: Path, url: str, *options: str) -> dict[str, float]:
    """One `bench.peer_process` run in the peers' venv; its JSON counts (none for `--set-up`)."""
    command = [
        str(peer_venv.python()),
        "-m",
        "bench.peer_process",
        framework,
        "--documents",
        str(documents),
        "--database-url",
        url,
        "--embedder",
        "hashing",
        *options,
    ]
    done = subprocess.run(
        command,
        cwd=REPO,
        env=peer_venv.environment(),
        check=True,
        timeout=PEER_TIMEOUT,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def test_each_peer_stores_every_chunk_it_made_under_an_hnsw_index(
    new_database_url: Callable[[], str], documents: Path
) -> None:
    url = new_database_url()
    files = len([p for p in documents.rglob("*") if p.is_file()])
    for framework in ("llamaindex", "langchain"):
        _peer(framework, documents, url, "--set-up")

    llama = _peer("llamaindex", documents, url)
    pdfium = _peer("langchain", documents, url, "--pdf-loader", "pypdfium2")
    pypdf = _peer("langchain", documents, url, "--pdf-loader", "pypdf")

    assert llama["documents"] == pdfium["documents"] == files
    assert _rows(url, "SELECT count(*) FROM data_peer_llama_index") == [(llama["chunks"],)]
    stored = _rows(url, "SELECT count(*) FROM langchain_pg_embedding")
    assert stored == [(pdfium["chunks"] + pypdf["chunks"],)]
    assert min(llama["chunks"], pdfium["chunks"], pypdf["chunks"]) > files
    assert pdfium["import_seconds"] > 0
    indexes = _rows(url, "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%hnsw%'")
    definitions = sorted(str(row[0]) for row in indexes)
    assert len(definitions) == 2
    assert all("vector_cosine_ops" in d and "m='16'" in d for d in definitions)
    assert all("ef_construction='64'" in d for d in definitions)


def test_the_peers_venv_keeps_the_stores_own_sqlalchemy_and_pgvector() -> None:
    versions = peer_venv.versions()

    assert versions["sqlalchemy"].startswith("2.0.")
    assert versions["pgvector"].startswith("0.3.")
    assert versions["torch"].startswith("2.13.0")
