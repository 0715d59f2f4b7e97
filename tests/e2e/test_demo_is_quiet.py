"""`python -m worker demo` (what `make run` runs) prints its table and total, not RQ's line per job,
unless LOG_LEVEL=DEBUG asks for them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.worker import WorkerProcess

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
#: What RQ logs for every job it finishes (`ingestion: Job OK (<job id>)`).
RQ_JOB_LINE = ": Job OK ("


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    folder = tmp_path / "samples"
    folder.mkdir()
    for path in sorted(SAMPLES.iterdir())[:3]:
        shutil.copy(path, folder)
    return folder


@pytest.mark.usefixtures("samples")
@pytest.mark.parametrize(("level", "job_lines"), [("INFO", False), ("DEBUG", True)])
def test_the_demo_prints_its_table_without_rqs_job_lines(
    start_worker: Callable[..., WorkerProcess], level: str, job_lines: bool
) -> None:
    demo = start_worker("demo", "--once", LOG_LEVEL=level)

    assert demo.exit_code(timeout=120) == 0, demo.output
    demo.wait_for_line(r"^3 documents, \d+ chunks")
    assert (RQ_JOB_LINE in demo.output) is job_lines, demo.output
