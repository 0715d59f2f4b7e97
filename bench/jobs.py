"""Job functions the harness enqueues by dotted path (JSON arguments only)."""

from __future__ import annotations

NOOP_JOB = "bench.jobs.noop"


def noop() -> None:
    """Do nothing: what is left of a job's time is the worker's own overhead."""
