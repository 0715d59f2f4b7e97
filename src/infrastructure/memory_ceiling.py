"""A hard memory ceiling for the process that runs jobs (the pool's executor, a fork-mode horse).

A parser asked for gigabytes by a few hundred bytes of hostile input does so in one native call
that no timeout interrupts; only the kernel can refuse it. The ceiling is `RLIMIT_DATA`: since
Linux 4.7 it counts the heap and every private writable mapping (anonymous memory, thread
stacks), but not mapped files (a model's weights read from disk) or address space that is only
reserved (PyTorch and glibc reserve far more than they use), which `RLIMIT_AS` would count.

Past the ceiling an allocation fails: Python raises `MemoryError` (the ingestion use case makes
it `OutOfMemory`, a permanent failure), and native code usually aborts the process (the job is
then a crashed executor or a dead horse).
"""

from __future__ import annotations

import logging
import resource

_log = logging.getLogger(__name__)
_MIB = 2**20


def set_memory_ceiling(limit_bytes: int) -> None:
    """Cap this process's data memory at `limit_bytes` for good (soft and hard limits, so
    nothing it runs can raise it again); 0 leaves it as it is. A hard limit already lower is
    kept. Warns when the process already holds more than the ceiling: every job would fail."""
    if limit_bytes <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    in_use = _data_bytes()
    if in_use is not None and in_use >= limit_bytes:
        _log.warning(
            "JOB_MEMORY_LIMIT %d MiB is below the %d MiB this process already holds: every"
            " job will run out of memory; raise it or set 0",
            limit_bytes // _MIB,
            in_use // _MIB,
        )


def _data_bytes() -> int | None:
    """The data memory this process holds now, as `RLIMIT_DATA` counts it (`VmData`, Linux);
    None where the kernel does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
