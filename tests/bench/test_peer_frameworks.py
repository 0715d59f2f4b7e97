"""The peers' pipelines on the project's samples, into a real Postgres: what they report is what
they stored, and their HNSW index has the benchmark's settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from bench.paths import REPO, child_environment
from sqlalchemy import make_url

pytest.importorskip("llama_index.vector_stores.postgres")
pytest.importorskip("langchain_postgres")

SAMPLES = REPO / "samples"
#: The peer loads LangChain's community loaders, whose package warns on import that it is being
#: sunset; the warning is about that package, not about a call of ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`langchain-community` is being sunset:DeprecationWarning"
)


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    directory = tmp_path / "documents"
    shutil.copytree(SAMPLES, directory)
    return directory


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        return connection.execute(query).fetchall()


def test_each_peer_stores_every_chunk_it_made_under_an_hnsw_index(
    new_database_url: Callable[[], str], documents: Path
) -> None:
    from bench import peer_frameworks

    url = new_database_url()
    files = len([p for p in documents.rglob("*") if p.is_file()])
    for framework in ("llamaindex", "langchain"):
        peer_frameworks.set_up(framework, url, "hashing")

    llama = peer_frameworks.run_llama_index(documents, url, "hashing", workers=1)
    pdfium = peer_frameworks.run_langchain(documents, url, "hashing", "pypdfium2")
    pypdf = peer_frameworks.run_langchain(documents, url, "hashing", "pypdf")

    assert llama["documents"] == pdfium["documents"] == files
    assert _rows(url, "SELECT count(*) FROM data_peer_llama_index") == [(llama["chunks"],)]
    stored = _rows(url, "SELECT count(*) FROM langchain_pg_embedding")
    assert stored == [(pdfium["chunks"] + pypdf["chunks"],)]
    assert min(llama["chunks"], pdfium["chunks"], pypdf["chunks"]) > files
    indexes = _rows(url, "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%hnsw%'")
    definitions = sorted(str(row[0]) for row in indexes)
    assert len(definitions) == 2
    assert all("vector_cosine_ops" in d and "m='16'" in d for d in definitions)
    assert all("ef_construction='64'" in d for d in definitions)


def test_a_peer_process_prints_its_counts_as_one_json_line(
    new_database_url: Callable[[], str], documents: Path
) -> None:
    url = new_database_url()
    command = [
        sys.executable,
        "-m",
        "bench.peer_process",
        "langchain",
        "--documents",
        str(documents),
        "--database-url",
        url,
        "--embedder",
        "hashing",
    ]
    env = child_environment()
    subprocess.run([*command, "--set-up"], cwd=REPO, env=env, check=True, timeout=120)

    done = subprocess.run(
        command, cwd=REPO, env=env, check=True, timeout=120, capture_output=True, text=True
    )

    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["chunks"] == _rows(url, "SELECT count(*) FROM langchain_pg_embedding")[0][0]
    assert counts["import_seconds"] > 0
