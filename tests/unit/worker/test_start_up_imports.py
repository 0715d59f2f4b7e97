"""The worker imports heavy libraries only for the adapters its settings choose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "sentence_transformers", "transformers", "httpx", "boto3", "botocore")

#: Imports the worker and builds its container as `python -m worker` does (no connection is
#: opened), then prints which heavy modules got loaded.
PROBE = """
import json, sys
import worker.__main__, worker.jobs
from bootstrap import build_container
from infrastructure.settings import load_settings
build_container(load_settings())
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_heavy_modules(tmp_path: Path, **environment: str) -> list[str]:
    settings = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATA_DIR": str(tmp_path / "var"),
        "HF_HUB_OFFLINE": "1",
        **environment,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        env=settings,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(result.stdout.splitlines()[-1]))


def test_the_hashing_worker_imports_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_heavy_modules(tmp_path, EMBEDDER="hashing") == []


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {
                "EMBEDDER": "openai",
                "EMBEDDING_BASE_URL": "http://127.0.0.1:1/v1",
                "EMBEDDING_MODEL": "m",
            },
            ["httpx"],
        ),
        (
            {"EMBEDDER": "hashing", "STORAGE_BACKEND": "s3", "S3_BUCKET": "uploads"},
            ["boto3", "botocore"],
        ),
    ],
)
def test_a_chosen_adapter_brings_only_its_own_library(
    tmp_path: Path, environment: dict[str, str], expected: list[str]
) -> None:
    assert loaded_heavy_modules(tmp_path, **environment) == expected
