"""Worker processes started for one measurement, and waiting for a queue to be drained."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from redis import Redis

from bench.paths import OUT, REPO, child_environment, shown
from infrastructure.settings import default_model_threads

LOGS = OUT / "logs"

_STARTUP_TIMEOUT = 120.0


def our_worker_command() -> list[str]:
    """The project's own entry point, as an operator runs it."""
    return [sys.executable, "-m", "worker", "run"]


def bench_worker_command(kind: str, queue: str, redis_url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.worker_process",
        "--kind",
        kind,
        "--queue",
        queue,
        "--redis-url",
        redis_url,
        *extra,
    ]


@contextmanager
def fleet(
    command: Sequence[str], count: int, env: dict[str, str], redis_url: str, queue: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` copies of `command`, yielded once all of them listen on `queue`; stopped after.

    Copies share the machine as `python -m worker --workers N` shares it: unless `env` says
    otherwise, each runs a local model on its share of the cores (TORCH_THREADS), not on all
    of them (each copy alone would take every core: `count` times too many threads)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{queue}.log").open("ab")
    shared = {"TORCH_THREADS": str(default_model_threads(count)), **env}
    processes = [
        subprocess.Popen(
            list(command), cwd=REPO, env=child_environment(**shared), stdout=log, stderr=log
        )
        for _ in range(count)
    ]
    try:
        wait_until_listening(Redis.from_url(redis_url), queue, count, processes)
        yield processes
    finally:
        stop(processes)
        log.close()


def wait_until_listening(
    redis: Redis, queue: str, count: int, processes: Sequence[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while listening_workers(redis, queue) < count:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(
                f"a worker exited during start-up with code {dead[0].returncode}; "
                f"see {shown(LOGS / (queue + '.log'))}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not register on {queue} within {_STARTUP_TIMEOUT}s")
        time.sleep(0.05)


def listening_workers(redis: Redis, queue: str) -> int:
    """Registered workers whose queue list names `queue` (plain reads, no registry cleanup)."""
    keys = redis.smembers("rq:workers")
    if not keys:
        return 0
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "queues")
        rows = pipe.execute()
    return sum(1 for row in rows if row and queue in row.decode().split(","))


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: How often a run's end is looked for: every `_FIRST_POLL` seconds at first, then every
#: `_POLL_SHARE` of the time waited so far, at most every `_LAST_POLL` seconds. A run is seen to
#: end within 0.5 % of its length, and a long run is not polled 50 times a second on the cores it
#: is measured on (that cost the model-bound row 6-10 % of its speed on 2 cores).
_FIRST_POLL = 0.02
_POLL_SHARE = 1 / 200
_LAST_POLL = 0.25


def wait_for(done: Callable[[], bool], timeout: float, interval: float | None = None) -> float:
    """Poll `done` until it is true, every `interval` seconds (unset: more rarely as the wait
    grows); return the time it became true (`time.perf_counter`)."""
    started = time.perf_counter()
    deadline = started + timeout
    while not done():
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError(f"not done after {timeout:.0f}s")
        waited = now - started
        time.sleep(interval or min(_LAST_POLL, max(_FIRST_POLL, waited * _POLL_SHARE)))
    return time.perf_counter()
