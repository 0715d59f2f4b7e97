"""JOB_MEMORY_LIMIT in WORKER_MODE=pool: a file that makes a parser ask for gigabytes in one
native call is stopped by the executor's memory ceiling, not by the machine running out, and
the next job runs in a fresh executor."""

from __future__ import annotations

import psutil
from redis import Redis
from rq.job import JobStatus

from bootstrap import Container
from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings
from tests.e2e.test_worker_process import (
    WORKSPACE,
    StartWorker,
    load,
    register_without_enqueuing,
    rq_enqueue,
    wait_for_job,
    wait_for_status,
)
from tests.faults.test_executor_faults import (
    READY,
    assert_failed_for_good,
    assert_the_next_job_runs,
    enqueue,
    retried_for,
)
from tests.hostile.test_hostile_files import nested_form_pdf

#: Twice what the executor holds after start-up with the hashing embedder (about 250 MiB of
#: data), half of the data PDFium needs to build the crafted page's text (its process peaks at
#: 1.5 GB; a level deeper, ten times that). Without a ceiling the page is read.
CEILING = str(512 * 1024**2)
_MIB = 2**20
#: So high that the PDF object budget (one object per ten characters) lets the page through:
#: only the ceiling stands between PDFium and the machine's memory.
NO_OBJECT_BUDGET = str(10**11)


def test_a_pdf_asking_for_gigabytes_is_stopped_by_the_ceiling_and_failed_for_good(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    worker = start_worker(
        WORKER_MODE="pool", JOB_MEMORY_LIMIT=CEILING, MAX_CHARS=NO_OBJECT_BUDGET, JOB_TIMEOUT="300"
    )
    crafted = nested_form_pdf(depth=6, fan_out=10)  # 100,000 copies of one line of text
    document = register_without_enqueuing(app_container, crafted)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))

    job = wait_for_job(redis_connection, job_id, timeout=240)

    # PDFium aborts when its allocation is refused: the crash path, twice, then for good.
    assert job.get_status() == JobStatus.FAILED
    assert retried_for(worker, job_id) == ["executor_crashed"]
    assert job.meta["error"]["code"] == "crashed_executor_twice"
    failed = assert_failed_for_good(app_container, document, "crashed_executor_twice", 2)
    assert "signal 6" in (failed.error_message or "")  # SIGABRT: refused, not killed
    assert_the_next_job_runs(app_container, worker_settings, worker)
    assert worker.executors_started() == 3
    assert worker.executor().rlimit(psutil.RLIMIT_DATA) == (int(CEILING), int(CEILING))
    assert len(crafted) < 2_500


def test_a_fork_mode_horse_runs_under_the_ceiling_too(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    worker = start_worker(
        WORKER_MODE="fork",
        JOB_MEMORY_LIMIT=CEILING,
        MAX_CHARS=NO_OBJECT_BUDGET,
        MAX_ATTEMPTS="2",
        JOB_TIMEOUT="300",
    )
    crafted = nested_form_pdf(depth=6, fan_out=10)
    document = register_without_enqueuing(app_container, crafted)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))

    job = wait_for_job(redis_connection, job_id, timeout=240)

    # A dead horse is retried like any other (fork mode keeps no crash count) while the
    # document has attempts left; each attempt stops at the ceiling. The document is left
    # `processing` for recovery to fail once its lease runs out, as for any dead horse.
    assert job.get_status() == JobStatus.FAILED
    assert job.meta["error"]["code"] == "worker_died"
    assert "signal 6" in job.meta["error"]["message"]  # SIGABRT: refused, not killed
    assert load(app_container, document).attempts == 2
    after = wait_for_status(app_container, enqueue(app_container, worker_settings), READY)
    assert after.attempts == 1
    assert worker.process.poll() is None


def test_a_text_needing_more_memory_than_the_ceiling_fails_once_with_out_of_memory(
    start_worker: StartWorker,
    app_container: Container,
    worker_settings: Settings,
    redis_connection: Redis,
) -> None:
    probe = start_worker(WORKER_MODE="pool")
    probe.wait_for_line(r"executor \d+ ready")
    held = data_bytes_of(probe.executor())  # what an executor holds before its first job
    probe.kill_everything()
    # 64 MiB to spare: reading 40 MiB of text takes its bytes and its sections, 80 MiB.
    worker = start_worker(
        WORKER_MODE="pool", JOB_MEMORY_LIMIT=str(held + 64 * _MIB), MAX_CHARS=str(10**9)
    )
    text = b"plain words and more words\n\n" * (40 * _MIB // 28)
    document = register_without_enqueuing(app_container, text)
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, str(document.id), str(WORKSPACE))

    job = wait_for_job(redis_connection, job_id, timeout=120)

    assert job.get_status() == JobStatus.FAILED
    assert retried_for(worker, job_id) == []
    assert job.meta["error"]["code"] == "out_of_memory"
    assert_failed_for_good(app_container, document, "out_of_memory", 1)
    assert_the_next_job_runs(app_container, worker_settings, worker)


def data_bytes_of(process: psutil.Process) -> int:
    """The data memory `process` holds (`VmData`), as its ceiling counts it."""
    with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmData")
