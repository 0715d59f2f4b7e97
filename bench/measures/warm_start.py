"""Warm start (WORKER_MODE=pool): from an executor's death to a fresh executor having run the
next job.

An executor is started in this process as a pool worker starts it (`JobExecutor`, hashing
embedder) and runs one no-op job; then, each time, it is killed (SIGKILL, as the OOM killer
would) and the clock runs until the next no-op job has come back from its replacement: the
fork server's start, the container built once, the job handed over and back.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from bench.context import Context
from bench.jobs import NOOP_JOB
from bench.stats import Outcome, Target

#: Kills per repetition.
RESTARTS = 3
_JOB_TIMEOUT = 60.0


def new_outcome() -> Outcome:
    outcome = Outcome(
        "warmstart",
        "Warm start, WORKER_MODE=pool: an executor's death to its replacement's first job done",
        Target("<", 1.0, "s"),
    )
    outcome.add_series("death to next job done, hashing embedder", "s")
    return outcome


def measure(context: Context, outcome: Outcome) -> None:
    """`RESTARTS` deaths and warm starts of one executor."""
    from infrastructure.observability import IngestionMetrics, MetricsRelay
    from infrastructure.queue import ALLOWED_JOB_FUNCTIONS
    from worker.executor import JobCall, JobExecutor

    metrics = IngestionMetrics()
    executor = JobExecutor(
        context.settings(), MetricsRelay(metrics), ALLOWED_JOB_FUNCTIONS | {NOOP_JOB}
    )
    noop = JobCall(NOOP_JOB, (), {})
    try:
        executor.run(noop, timeout=_JOB_TIMEOUT)  # started and ready
        for _ in range(RESTARTS):
            _executor_process().send_signal(signal.SIGKILL)
            died = time.perf_counter()
            executor.run(noop, timeout=_JOB_TIMEOUT)
            outcome.series[0].add(time.perf_counter() - died)
    finally:
        executor.stop()
        metrics.shutdown()
    outcome.value = outcome.series[0].median


def _executor_process() -> psutil.Process:
    """This process's executor: the descendant its fork server started."""
    for process in psutil.Process(os.getpid()).children(recursive=True):
        parent = process.parent()
        if parent is not None and "forkserver" in " ".join(parent.cmdline()):
            return process
    raise RuntimeError("no executor process to kill")
