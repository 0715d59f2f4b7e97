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
- ran a job that ran out of memory (its heap may stay at the memory ceiling);
- is found dead before it took the next job (killed between jobs, or dying as it starts): the
  job, which never started, goes to the replacement.

Each replacement is counted in the worker process (`ingestion_executor_restarts_total`, by
`reason`: crash, timeout, max_rss, max_jobs, out_of_memory). A replacement for an executor
that ended during a job starts at once, while the worker records the job's failure; one found
dead between jobs is replaced when the next job comes. The executor leaves the worker's process
group and ignores SIGINT, so SIGINT and SIGTERM sent to the group reach only the worker (which
decides when the executor stops: a warm shutdown finishes the job in hand), and exits if the
worker dies.

The executor is a `multiprocessing` process from the fork server, and a job goes over one duplex
pipe: the call out, the outcome back. The worker waits on the pipe and on the process's sentinel
at once (`multiprocessing.connection.wait`), so a death, a result and a timeout are each seen the
moment they happen, with no thread in between (docs/design-decisions.md: a process pool's
scheduler and result threads cost five times the pipe's round trip).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from rq.timeouts import JobTimeoutException

from application.errors import ExecutorCrashed, InternalError, JobTimedOut, OutOfMemory
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
#: How long a stopped executor may take to exit before it is killed.
_STOP_GRACE_SECONDS = 5.0
#: What a new executor sends once it has built its runtime.
_READY = "ready"


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


class _DiedBeforeTheJob(Exception):
    """The executor was found dead (or never became ready) before it took the job."""


@dataclass(slots=True)
class _Process:
    """One executor process, the worker's end of its pipe, and how many jobs it was sent and
    has taken (a counter in shared memory it raises as it reads each job: after a death, the
    two tell whether the job in hand had started)."""

    process: BaseProcess
    connection: Connection
    taken: Any  # multiprocessing's RawValue("Q"), in memory both processes share
    sent: int = 0
    ready: bool = False
    #: Whether a job was handed over and its outcome not read yet.
    busy: bool = False

    def alive(self) -> bool:
        return self.process.exitcode is None

    def end(self) -> None:
        """Make the process exit: idle, it is told to (it closes its connections); running a
        job, or deaf, it is killed."""
        if self.alive() and not self.busy:
            with contextlib.suppress(OSError):  # it died just now
                self.connection.send(None)
            self.process.join(_STOP_GRACE_SECONDS)
        if self.alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


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
        self._current: _Process | None = None
        #: Jobs the current executor process has run.
        self._jobs = 0

    def start(self) -> None:
        """Start the executor process now (it builds its container before its first job)."""
        if self._current is None:
            self._current = self._new_process()
            self._jobs = 0

    def wait_until_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the executor process to have built its runtime (its
        database pool, its embedder with a local model loaded); whether it has. An executor that
        failed to start is not reported here: its first job finds it dead and replaces it."""
        current = self._current
        if current is None:
            return False
        if not current.ready:
            wait([current.connection, current.process.sentinel], timeout)
            current.ready = _received_ready(current)
        return current.ready

    def stop(self) -> None:
        """Stop the executor process (a job it is running is abandoned)."""
        current, self._current = self._current, None
        if current is not None:
            current.end()

    def run(self, call: JobCall, *, timeout: float) -> Any:
        """Run `call` in the executor and return its value or raise its exception.

        Raises `ExecutorCrashed` if the executor dies before the job ends, and `JobTimedOut` if
        the job runs past `timeout` seconds (raised in the job; or, if it does not stop, the
        executor is killed). A job that ends its executor leaves the next to a fresh one.
        """
        outcome = self._outcome_of(call, timeout)
        self._relay.replay(outcome.events)
        self._jobs += 1
        if spent := self._spent_by(outcome):
            self._replace(spent)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    def _outcome_of(self, call: JobCall, timeout: float) -> _Outcome:
        """What the executor sends back for `call`. An executor found dead before it took the
        job (it died between jobs, or while starting) is replaced and the job handed to the new
        one, once: the job never started."""
        for attempt in (1, 2):
            try:
                current = self._ready_executor(timeout)
                return self._exchange(current, call, timeout)
            except _DiedBeforeTheJob as died:
                self._replace("crash")
                if attempt == 2:
                    raise ExecutorCrashed(f"{ExecutorCrashed.default_message}: {died}") from None
        raise AssertionError("unreachable")

    def _ready_executor(self, timeout: float) -> _Process:
        """The current executor, started if there is none, once it is ready (a new one may take
        up to `timeout` seconds to build its runtime)."""
        self.start()
        current = self._current
        assert current is not None
        if not self.wait_until_ready(timeout):
            if wait([current.process.sentinel], 0):  # it died as it started
                current.process.join()
                raise _DiedBeforeTheJob(_how_it_ended(current.process.exitcode))
            raise _DiedBeforeTheJob(f"not ready within {timeout:g} s")
        return current

    def _exchange(self, current: _Process, call: JobCall, timeout: float) -> _Outcome:
        """Hand `call` to `current` and wait for its outcome, its death or its deadline (the
        job's timeout and the grace a job deaf to it gets)."""
        try:
            current.connection.send((call, max(1, int(timeout))))
        except OSError as broken:  # the pipe's other end is gone: it died since it was ready
            raise _DiedBeforeTheJob(str(broken)) from None
        current.sent += 1
        current.busy = True
        ready = wait([current.connection, current.process.sentinel], timeout + _KILL_GRACE_SECONDS)
        if ready and current.connection.poll():  # an outcome, even from one that died since
            try:
                outcome: _Outcome = current.connection.recv()
            except (EOFError, OSError):
                pass  # it died as it answered: a crash
            else:
                current.busy = False
                return outcome
        if not ready:  # deaf to its timeout: killed with its executor
            self._replace("timeout")
            raise JobTimedOut(f"{JobTimedOut.default_message} ({timeout:g} s)")
        current.process.join()
        how = _how_it_ended(current.process.exitcode)
        if current.taken.value < current.sent:  # it died before it read the job
            raise _DiedBeforeTheJob(how)
        self._replace("crash")
        raise ExecutorCrashed(f"{ExecutorCrashed.default_message}: {how}")

    def _replace(self, reason: str) -> None:
        """Stop the executor process and start a new one at once, noting why (the restart
        metric's `reason`)."""
        self.stop()
        self.start()
        self._relay.sink().record_executor_restart(reason)

    def _spent_by(self, outcome: _Outcome) -> str | None:
        """Why the executor must be replaced before the next job: its job ran out of memory
        (`out_of_memory`: its heap may stay at the ceiling, leaving the next job none), it
        holds more memory than EXECUTOR_MAX_RSS (`max_rss`), or has run EXECUTOR_MAX_JOBS jobs
        (`max_jobs`); else None."""
        settings = self._settings
        rss_bytes = outcome.rss_bytes
        if isinstance(outcome.error, OutOfMemory):
            return "out_of_memory"
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

    def _new_process(self) -> _Process:
        context = _fork_server()
        ours, theirs = context.Pipe(duplex=True)
        taken = context.RawValue("Q", 0)
        process = context.Process(
            target=_serve,
            args=(theirs, taken, self._settings, os.getpid(), self._functions),
            name="executor",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Process(process, ours, taken)


def _received_ready(current: _Process) -> bool:
    """Whether the executor's ready message is there (read now); False if it is not yet, or the
    executor died first."""
    try:
        return current.connection.poll() and current.connection.recv() == _READY
    except (EOFError, OSError):
        return False


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


def _serve(
    connection: Connection,
    taken: Any,
    settings: Settings,
    worker_pid: int,
    functions: frozenset[str],
) -> None:
    """The executor's life: become one, say so, then run each job the worker sends (counting
    it in `taken` first) until it sends None or goes away."""
    _start_executor(settings, worker_pid, functions)
    connection.send(_READY)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        taken.value += 1
        connection.send(_run_job(*message))


def _start_executor(settings: Settings, worker_pid: int, functions: frozenset[str]) -> None:
    """Become an executor: leave the worker's process group and ignore SIGINT (its SIGINT and
    SIGTERM are the worker's to act on), log as it does, build this process's runtime, and exit
    when the worker is gone."""
    global _allowed
    _allowed = functions
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log_format.value, settings.log_level)
    runtime.install(runtime.WorkerRuntime(build_container(settings)))
    threading.Thread(
        target=_exit_when_gone, args=(worker_pid,), name="executor-watch", daemon=True
    ).start()  # before the ceiling: a thread's stack counts against it
    set_memory_ceiling(settings.job_memory_limit)
    _log.info("executor %d ready", os.getpid())


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
    pickling (ours do, with their code and `attempts`); else an `InternalError` with its text.

    The failed job's locals are released first: after an `out_of_memory` they hold what filled
    the memory ceiling, and describing the error must not need more (the executor would die
    with the outcome unsent, and the job be retried as a crash)."""
    _release_locals(error)
    try:
        where = "in the executor:\n" + traceback.format_exc()
    except MemoryError:
        where = "in the executor (no memory left to format the traceback)"
    try:
        error.add_note(where)
        pickle.loads(pickle.dumps(error))
    except Exception:
        portable = InternalError(f"{type(error).__name__}: {error}")
        portable.add_note(where)
        return portable
    return error


def _release_locals(error: BaseException) -> None:
    """Clear the local variables of the finished frames in `error`'s tracebacks, and in those
    of the errors it was raised from or while handling."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [current.__cause__, current.__context__]


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
