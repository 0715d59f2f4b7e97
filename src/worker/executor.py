"""The executor: one long-lived process per worker that runs job after job (WORKER_MODE=pool).

The worker process keeps RQ's loop and bookkeeping and hands the executor only the job's
function name and JSON arguments (`JobCall`). The executor is started fresh from a fork server
(never forked from the worker, so it inherits no loaded model, PyTorch threads or database
connections), builds its own container once (database pool, embedder, caches) and keeps it for
every job it runs; what a job records is collected there and replayed in the worker process
(`MetricsRelay.collecting`), and the job's result or exception comes back pickled.

The executor is replaced, and only the job in hand is affected, when it:

- crashes (a signal, `os.abort()`, the OOM killer): `ExecutorCrashed`;
- runs a job past its timeout and does not stop when told: the job is told first (RQ's SIGALRM
  death penalty raises `JobTimedOut` in it, so its document is handed back at once, as in the
  other modes, and the executor lives on); one that has not returned `_KILL_GRACE_SECONDS`
  later (stuck in native code, stopped) is killed with its executor, and `JobTimedOut` raised;
- ends a job with more resident memory than EXECUTOR_MAX_RSS (it reports its RSS with each
  result; the job's own outcome stands);
- has run EXECUTOR_MAX_JOBS jobs;
- is found dead before it took the next job (killed between jobs, or dying as it starts): the
  job, which never started, goes to the replacement.

Each replacement is counted in the worker process (`ingestion_executor_restarts_total`, by
`reason`: crash, timeout, max_rss, max_jobs). A replacement starts as soon as the old executor
is gone, not at the next job. The executor
leaves the worker's process group, so SIGINT and SIGTERM sent to the group reach only the
worker (which decides when the executor stops: a warm shutdown finishes the job in hand), and
exits if the worker dies.

Built on pebble's `ProcessPool` with one process: it already kills a process on a task's
timeout, reports a dead one as `ProcessExpired` and starts the next at once. The memory and job
limits are checked here, after each job, and replace the whole (one-process) pool.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import traceback
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from pebble import ProcessExpired, ProcessPool
from rq.timeouts import JobTimeoutException

from application.errors import ExecutorCrashed, InternalError, JobTimedOut
from bootstrap import build_container
from infrastructure.memory_ceiling import set_memory_ceiling
from infrastructure.observability import MetricsRelay, configure_logging, job_context
from infrastructure.queue import ALLOWED_JOB_FUNCTIONS
from infrastructure.rq_internals import TimeoutPenalty
from infrastructure.settings import Settings
from worker import runtime

_log = logging.getLogger(__name__)

#: How often the executor checks that the worker that started it is still alive.
_WORKER_CHECK_SECONDS = 1.0
#: How long past its timeout a job that ignored it may take before its executor is killed.
_KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class JobCall:
    """One job for the executor: an allow-listed function, its JSON arguments, and the fields
    every line it logs carries."""

    function_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    log_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the executor sends back for a job: its value or its exception, what it measured,
    and the executor's resident memory after it."""

    value: Any
    error: BaseException | None
    events: list[dict[str, object]]
    rss_bytes: int


class JobExecutor:
    """The worker's executor process: `start()`, `run()` job after job, `stop()`.

    Not thread-safe: one job at a time, as RQ runs them.
    """

    def __init__(
        self,
        settings: Settings,
        relay: MetricsRelay,
        functions: frozenset[str] = ALLOWED_JOB_FUNCTIONS,
    ) -> None:
        self._settings = settings
        self._relay = relay
        #: The functions the executor runs (the job allow-list; the benchmark adds its no-op).
        self._functions = functions
        self._pool: ProcessPool | None = None
        #: Done once the current executor process has built its runtime.
        self._warming: Future[None] | None = None
        #: Jobs the current executor process has run.
        self._jobs = 0

    def start(self) -> None:
        """Start the executor process now (it builds its container before its first job)."""
        if self._pool is None:
            self._pool = self._new_pool()
            self._jobs = 0

    def wait_until_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the executor process to have built its runtime (its
        database pool, its embedder with a local model loaded); whether it has. An executor that
        failed to start is not reported here: its first job finds it dead and replaces it."""
        warming = self._warming
        if warming is None:
            return False
        try:
            warming.result(timeout=timeout)
        except FutureTimeout:
            return False
        except Exception:  # pebble's errors for a process that died while starting
            return False
        return True

    def stop(self) -> None:
        """Stop the executor process (a job it is running is abandoned)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it unannotated
            pool.join()

    def run(self, call: JobCall, *, timeout: float) -> Any:
        """Run `call` in the executor and return its value or raise its exception.

        Raises `ExecutorCrashed` if the executor dies before the job ends, and `JobTimedOut` if
        the job runs past `timeout` seconds (raised in the job; or, if it does not stop, the
        executor is killed). A job that ends its executor leaves the next to a fresh one.
        """
        outcome = self._outcome_of(call, timeout)
        self._relay.replay(outcome.events)
        self._jobs += 1
        if spent := self._spent_by(outcome.rss_bytes):
            self._replace(spent)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    def _outcome_of(self, call: JobCall, timeout: float) -> _Outcome:
        """What the executor sends back for `call`. An executor found dead before it took the
        job (it died between jobs, or while starting; pebble then gives up the whole pool) is
        replaced and the job handed to the new one, once: the job never started."""
        for attempt in (1, 2):
            try:
                return self._schedule(call, timeout).result()
            except (BrokenProcessPool, _PoolNotRunning) as broken:
                self._replace("crash")
                if attempt == 2 or not _before_the_job(broken):
                    raise ExecutorCrashed(f"{ExecutorCrashed.default_message}: {broken}") from None
            except ProcessExpired as expired:  # pebble has started the next process already
                self._replaced("crash")
                raise ExecutorCrashed(
                    f"{ExecutorCrashed.default_message}: {_how_it_ended(expired.exitcode)}"
                ) from None
            except FutureTimeout:  # pebble has killed the process and started the next
                self._replaced("timeout")
                raise JobTimedOut(f"{JobTimedOut.default_message} ({timeout:g} s)") from None
        raise AssertionError("unreachable")

    def _schedule(self, call: JobCall, timeout: float) -> Future[_Outcome]:
        self.start()
        assert self._pool is not None
        try:
            future: Future[_Outcome] = self._pool.schedule(
                _run_job, args=(call, max(1, int(timeout))), timeout=timeout + _KILL_GRACE_SECONDS
            )
        except RuntimeError as broken:  # pebble's pool is in error: its process died idle
            raise _PoolNotRunning from broken
        return future

    def _replace(self, reason: str) -> None:
        """Stop the executor process and start a new one, noting why."""
        self.stop()
        self.start()
        self._replaced(reason)

    def _replaced(self, reason: str) -> None:
        """Note that a new executor process took over, and why (the restart metric's
        `reason`)."""
        self._jobs = 0
        self._relay.sink().record_executor_restart(reason)

    def _spent_by(self, rss_bytes: int) -> str | None:
        """Why the executor must be replaced before the next job: it holds more memory than
        EXECUTOR_MAX_RSS (`max_rss`), or has run EXECUTOR_MAX_JOBS jobs (`max_jobs`); else
        None."""
        settings = self._settings
        if rss_bytes > settings.executor_max_rss:
            _log.info(
                "executor at %d MiB after the job (EXECUTOR_MAX_RSS %d MiB): replacing it",
                rss_bytes // 2**20,
                settings.executor_max_rss // 2**20,
            )
            return "max_rss"
        if self._jobs >= settings.executor_max_jobs:
            _log.info("executor has run %d jobs (EXECUTOR_MAX_JOBS): replacing it", self._jobs)
            return "max_jobs"
        return None

    def _new_pool(self) -> ProcessPool:
        pool = ProcessPool(
            max_workers=1,
            initializer=_start_executor,
            initargs=(self._settings, os.getpid(), self._functions),
            context=_fork_server(),
        )
        self._warming = pool.schedule(_ready)  # starts the process now, not at the first job
        return pool


class _PoolNotRunning(Exception):
    """pebble refused a job: its pool gave up after its one process died between jobs."""


def _before_the_job(broken: Exception) -> bool:
    """Whether pebble gave up its pool before any process took the job: refused at once, or
    its one process found dead with no task running ("All workers expired"); not a result that
    could not come back, after the job ran."""
    return isinstance(broken, _PoolNotRunning) or str(broken) == "All workers expired"


def _fork_server() -> Any:
    """A fork server with the ingestion code imported: a fresh executor starts in milliseconds
    and shares nothing with the worker process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {-exitcode} ({signal.strsignal(-exitcode)})"
    return f"exit {exitcode}"


# In the executor process ---------------------------------------------------------------------


#: The functions this executor process runs (`JobExecutor`'s `functions`).
_allowed: frozenset[str] = ALLOWED_JOB_FUNCTIONS


def _start_executor(settings: Settings, worker_pid: int, functions: frozenset[str]) -> None:
    """Become an executor: leave the worker's process group (its SIGINT/SIGTERM are the
    worker's to act on), log as it does, build this process's runtime, and exit when the
    worker is gone."""
    global _allowed
    _allowed = functions
    os.setpgid(0, 0)
    configure_logging(settings.log_format.value, settings.log_level)
    runtime.install(runtime.WorkerRuntime(build_container(settings)))
    set_memory_ceiling(settings.job_memory_limit)
    threading.Thread(
        target=_exit_when_gone, args=(worker_pid,), name="executor-watch", daemon=True
    ).start()
    _log.info("executor %d ready", os.getpid())


def _ready() -> None:
    """Nothing: scheduled once so the executor starts (and builds its runtime) at once."""


def _run_job(call: JobCall, timeout: int) -> _Outcome:
    """Run one job here, held to `timeout` seconds; never raises (its exception travels back in
    the outcome)."""
    relay = runtime.current().relay
    with relay.collecting() as collected, job_context(**call.log_fields):
        try:
            with TimeoutPenalty(timeout, JobTimeoutException):
                value = _function(call.function_name)(*call.args, **call.kwargs)
            error = None
        except Exception as exc:
            value, error = None, _portable(exc)
    return _Outcome(value, error, collected.events, _resident_bytes())


def _function(name: str) -> Any:
    if name not in _allowed:  # the worker checks first; this is a second lock
        raise InternalError(f"the executor refused to run {name[:120]!r}")
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def _portable(error: Exception) -> Exception:
    """`error`, noting the executor's traceback (RQ records the worker's), if it survives
    pickling (ours do, with their code and `attempts`); else an `InternalError` with its text."""
    where = "in the executor:\n" + traceback.format_exc()
    try:
        error.add_note(where)
        pickle.loads(pickle.dumps(error))
    except Exception:
        portable = InternalError(f"{type(error).__name__}: {error}")
        portable.add_note(where)
        return portable
    return error


def _resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _exit_when_gone(worker_pid: int) -> None:
    """End this process once the worker that started it is gone (killed, out of memory):
    nobody would take the job's result. Its pipes cannot tell: processes the worker forked
    (RQ's scheduler) hold them open too."""
    while True:
        try:
            os.kill(worker_pid, 0)
        except OSError:  # no such process, or (EPERM) its number reused by another user's
            os._exit(1)
        threading.Event().wait(_WORKER_CHECK_SECONDS)
