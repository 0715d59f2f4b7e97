"""The RQ workers: they run only our jobs, retry only what may pass, record metrics where
/metrics can see them and rescue documents abandoned by dead workers.

Three classes share all of that (`IngestionWorkerMixin`) and differ only in where a job runs
(WORKER_MODE picks one, see `worker_class_for`):

- `IngestionWorker` (`fork`) extends `rq.Worker`: each job runs in a forked work
  horse, so a crash in native code (a hostile PDF taking pdfium down) ends only that horse. The
  horse's measurements come back through `MetricsRelay.around_job`.
- `InlineIngestionWorker` (`inline`) extends `rq.SimpleWorker`: each job runs in the worker
  process itself, which saves the fork, the fresh database connection and the cold caches of
  every job. A crash in native code ends the worker process; the document's attempt counter
  and the processing lease bound the damage and a supervisor (or the pool) restarts it.
- `PooledIngestionWorker` (`pool`, the default) extends `rq.SimpleWorker` too, but hands each job's
  function name and JSON arguments to its one long-lived executor process (`worker.executor`),
  which keeps its connections and caches across jobs and is replaced when it crashes, hangs
  past the timeout or grows past EXECUTOR_MAX_RSS; only the job in hand is lost. A job that
  crashes its executor a second time fails for good (`CrashedExecutorTwice`, also recorded on
  its document): the crashes are counted in the job's meta, which every retry of the job
  carries.

Common to all three:

- Jobs are JSON (never pickle) and may only name a function in `ALLOWED_JOB_FUNCTIONS`, with no
  callbacks; anything else fails without being imported or run.
- Failures follow the one `RetryPolicy`: permanent errors (`PermanentError`, bad arguments,
  refused or undecodable jobs) fail at once; other errors retry with its backoff. The document
  owns the attempt count: a job's remaining retries are set from the attempts its document has
  had (so no document is tried past MAX_ATTEMPTS, whatever jobs it took); a job that failed
  before claiming its document keeps the queue's own allowance (the policy's, also for jobs
  enqueued by an outside client that set none).
- A job runs at most JOB_TIMEOUT seconds (RQ's SIGALRM death penalty, in the horse, in the
  executor, which is killed if the job ignores it, or, inline, in the worker's main thread);
  past it the job raises `JobTimedOut`, so its document goes back to `queued` with the reason
  `timeout` (or, its attempts spent, `failed`) at once. Its result and failure are kept at
  most RESULT_TTL and FAILURE_TTL, whatever its client asked for.
- A job's hash is not trusted (`GuardedJob`): a payload inflating past 1 MiB is refused as
  `undecodable_job` without being inflated, and arguments of the wrong types (not a list and an
  object) are an `invalid_argument`, failed once.
- Every RECOVERY_INTERVAL the worker process (never a work horse), before RQ's own registry
  cleanup, runs `RecoverAbandonedWork` (jobs taken by a worker that died, documents stuck
  mid-attempt or queued with no job).
- SIGTERM finishes the current job and exits 0 (warm shutdown); a second SIGTERM stops at once.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from time import monotonic, perf_counter
from typing import Any, ClassVar
from uuid import UUID

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import DeserializationError, InvalidJobOperation, StopRequested
from rq.job import Job, JobStatus
from rq.timeouts import BaseDeathPenalty
from rq.worker import BaseWorker, WorkerStatus

from application.errors import (
    CrashedExecutorTwice,
    ExecutorCrashed,
    ForbiddenJob,
    IngestionError,
    InternalError,
    InvalidJobArgument,
    JobTimedOut,
    UndecodableJob,
    WorkerDied,
)
from application.retry_policy import RetryPolicy
from application.usecases.ingestion import ProcessDocument
from infrastructure.memory_ceiling import set_memory_ceiling
from infrastructure.observability import job_context
from infrastructure.queue import ALLOWED_JOB_FUNCTIONS, PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.queue.job_failures import JobFailure, failure_of
from infrastructure.rq_internals import (
    FailureHooks,
    GuardedJob,
    TimeoutPenalty,
    quarantine_undecodable_jobs,
    stop_was_requested,
)
from infrastructure.settings import Settings, WorkerMode
from worker import runtime
from worker.executor import JobCall, JobExecutor

_log = logging.getLogger(__name__)


class AllowlistedJob(GuardedJob):
    """A job that resolves its function only if its payload was loaded, the function is
    allow-listed and the arguments have the types a call needs; it runs no callbacks."""

    @property
    def func(self) -> Any:
        if self.refusal:
            raise UndecodableJob(f"{self.refusal}; it was not run")
        name = self.func_name
        if name not in ALLOWED_JOB_FUNCTIONS:
            raise ForbiddenJob(f"refused to run {str(name)[:120]!r}: not an ingestion job")
        if not isinstance(self.args, list | tuple) or not isinstance(self.kwargs, dict):
            raise InvalidJobArgument(
                f"arguments must be a list and keyword arguments an object, not "
                f"{type(self.args).__name__} and {type(self.kwargs).__name__}"
            )
        return super().func

    @property
    def success_callback(self) -> None:
        return self._refuse_callback(self._success_callback_name)

    @property
    def failure_callback(self) -> None:
        return self._refuse_callback(self._failure_callback_name)

    @property
    def stopped_callback(self) -> None:
        return self._refuse_callback(self._stopped_callback_name)

    def _refuse_callback(self, name: str | None) -> None:
        if name:
            _log.warning("job %s: ignoring callback %r (callbacks are not allowed)", self.id, name)


class IngestionWorkerMixin(FailureHooks, BaseWorker):
    """What both worker classes share; put it before the RQ class it extends in the bases."""

    job_class = AllowlistedJob
    death_penalty_class: type[BaseDeathPenalty] = TimeoutPenalty
    #: Whether a job's final status is already known here once `execute_job` returns (it ran in
    #: this process), so recording its outcome needs no read from Redis.
    runs_jobs_here: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runtime = runtime.current()
        settings = self._runtime.settings
        kwargs["serializer"] = SERIALIZER
        kwargs["job_class"] = self.job_class
        kwargs.setdefault("default_result_ttl", settings.result_ttl)
        kwargs.setdefault("maintenance_interval", settings.recovery_interval)
        kwargs["exception_handlers"] = [self._apply_retry_policy]
        super().__init__(*args, **kwargs)
        self._settings = settings
        self._relay = self._runtime.relay
        #: The failure of the job being failed, from its exception or its dead work horse,
        #: until RQ records it (`describe_failure`).
        self._failure: JobFailure | None = None

    @property
    def dequeue_timeout(self) -> int:
        """Wake up at least every RECOVERY_INTERVAL, so recovery runs even when idle."""
        return max(1, min(self.worker_ttl - 15, self.maintenance_interval))

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job, capped at JOB_TIMEOUT; record its outcome here (or, in a pool, in the
        pool parent)."""
        self._cap_lifetimes(job)
        started = perf_counter()
        with job_context(**_job_fields(job)), self._job_scope():
            super().execute_job(job, queue)
        self._relay.sink().record_job(
            queue=queue.name,
            job_name=_function_name(job),
            outcome=_outcome(job, refresh=not self.runs_jobs_here),
            seconds=perf_counter() - started,
        )

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, which also ends an idle loop whose warm stop was lost: asked to stop
        while idle, RQ raises `StopRequested` from its signal handler wherever the loop
        stands, and an `except Exception` there swallows it (logging's own, when the signal
        lands as a line is written). The idle loop beats before each wait for a job, so the
        stop ends it there instead of never."""
        super().heartbeat(timeout, pipeline)
        if stop_was_requested(self) and self.get_state() != WorkerStatus.BUSY:
            raise StopRequested()

    def run_maintenance_tasks(self) -> None:
        """Our recovery first: RQ's registry cleanup would otherwise retry our abandoned jobs
        only after their backoff, or fail them for good once their retries are spent."""
        self.recover_abandoned_work()
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]  # RQ leaves it unannotated

    def recover_abandoned_work(self) -> None:
        """Fail the jobs RQ cannot load that a worker took (`quarantine_undecodable_jobs`), then
        run one pass of `RecoverAbandonedWork`; a failure is logged and left for the next."""
        try:
            for queue in self.queues:
                for job_id in quarantine_undecodable_jobs(queue, self._settings.failure_ttl):
                    _log.warning(
                        "job %s: its hash could not be loaded; failed as undecodable", job_id
                    )
            report = self._runtime.recover_abandoned_work()()
        except StopRequested:
            raise
        except Exception:
            _log.warning("recovery of abandoned work failed; retrying later", exc_info=True)
            return
        if report:
            _log.info(
                "recovered abandoned work: documents %d requeued, %d failed, %d enqueued again; "
                "jobs %d back at the head of the queue, %d retired",
                len(report.requeued),
                len(report.failed),
                len(report.reenqueued),
                len(report.resumed_jobs),
                len(report.retired_jobs),
            )

    def _job_scope(self) -> AbstractContextManager[None]:
        """What surrounds running one job in this worker process."""
        return nullcontext()

    @contextmanager
    def failure_scope(self, job: Job, exception: BaseException) -> Iterator[None]:
        """Name the failure's code on every line logged while RQ handles it, and keep it for
        `describe_failure`."""
        self._failure = JobFailure.of(failure_of(exception))
        with job_context(error_code=self._failure.code):
            yield

    def describe_failure(self, job: Job, exc_string: str) -> str:
        """`code: message` on the first line, RQ's traceback after it; a job that will not be
        retried also gets the code and message in `job.meta["error"]`."""
        failure = self._failure or JobFailure.of(InternalError(exc_string.strip()))
        self._failure = None
        final = not job.should_retry
        if final:
            failure.record_on(job)
        with job_context(error_code=failure.code):
            _log.warning(
                "job %s %s: %s: %s",
                job.id,
                "failed" if final else "failed, to be retried",
                failure.code,
                failure.message,
            )
        return failure.exc_info(exc_string)

    def _apply_retry_policy(
        self,
        job: Job,
        exc_type: type[BaseException],
        exc_value: BaseException,
        traceback: types.TracebackType | None,
    ) -> bool:
        if is_permanent(exc_value):
            job.retries_left = 0
            return True
        self._allow_retries(job)
        attempts = exc_value.attempts if isinstance(exc_value, IngestionError) else None
        if attempts is not None:
            job.retries_left = self._runtime.retry_policy.retries_left_after(attempts)
        return True

    def _allow_retries(self, job: Job) -> None:
        """Give a job the policy's delays, and the policy's allowance (MAX_ATTEMPTS - 1
        retries) if it came with none (an outside client's) or with more."""
        delays = list(self._runtime.retry_policy.retry_delays())
        job.retry_intervals = delays
        if job.retries_left is None and not job.number_of_retries:
            job.retries_left = len(delays)
        elif job.retries_left is not None:  # a client may have asked for more than the policy
            job.retries_left = min(job.retries_left, len(delays))

    def _cap_lifetimes(self, job: Job) -> None:
        """Hold a job to JOB_TIMEOUT, RESULT_TTL and FAILURE_TTL whatever its hash asks for:
        a missing, zero, negative (RQ's "never expire") or larger value becomes the setting."""
        settings = self._settings
        job.timeout = _capped(job.timeout, settings.job_timeout, allow_zero=False)
        job.result_ttl = _capped(job.result_ttl, settings.result_ttl, allow_zero=True)
        job.failure_ttl = _capped(job.failure_ttl, settings.failure_ttl, allow_zero=False)


class IngestionWorker(IngestionWorkerMixin, Worker):
    """Forks a work horse per job (WORKER_MODE=fork)."""

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Also move everything loaded so far out of the garbage collector's reach: a horse
        whose allocations trigger a full collection would otherwise touch, and so copy, every
        object it shares with this process (about 70 ms with the ingestion stack loaded)."""
        super().bootstrap(*args, **kwargs)
        gc.freeze()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["work_horse_killed_handler"] = self._work_horse_killed
        super().__init__(*args, **kwargs)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """In the horse, before the job: put it under its memory ceiling (JOB_MEMORY_LIMIT)."""
        set_memory_ceiling(self._settings.job_memory_limit)
        super().main_work_horse(job, queue)

    def _work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """A horse that died (timeout, OOM, kill) is a transient failure: allow retries (RQ
        calls this before it records the failure)."""
        self._allow_retries(job)
        self._failure = JobFailure.of(_horse_death(job, ret_val))

    def _job_scope(self) -> AbstractContextManager[None]:
        """The relay's pipe, which brings back what the horse measures."""
        return self._relay.around_job()


class InlineIngestionWorker(IngestionWorkerMixin, SimpleWorker):
    """Runs each job in the worker process itself (WORKER_MODE=inline): database connections
    and caches persist across jobs; what a job measures goes straight to `relay.sink()`."""

    runs_jobs_here = True


class ExecutorJob(AllowlistedJob):
    """An allow-listed job whose function, once its worker gives it a `runner`, runs there (in
    the worker's executor process) instead of in this process."""

    runner: Callable[[JobCall], Any] | None = None

    @property
    def func(self) -> Any:
        function = super().func  # refuses what is not allow-listed, as before
        runner = self.runner
        if runner is None:
            return function
        name = str(self.func_name)
        fields = _job_fields(self)
        return lambda *args, **kwargs: runner(JobCall(name, args, kwargs, fields))


class _DeadlineInTheExecutor(BaseDeathPenalty):
    """No alarm in the worker process: the executor holds the job to its timeout (and is
    killed if the job ignores it)."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class PooledIngestionWorker(IngestionWorkerMixin, SimpleWorker):
    """Runs each job in the worker's one long-lived executor process (WORKER_MODE=pool): no
    fork per job, and connections and caches persist across jobs in the executor; a crash, a
    hang or a memory overrun there costs only the job in hand (see `worker.executor`)."""

    runs_jobs_here = True
    job_class = ExecutorJob
    death_penalty_class = _DeadlineInTheExecutor
    #: The functions its executor runs: the job allow-list (the benchmark adds its no-op).
    executor_functions: ClassVar[frozenset[str]] = ALLOWED_JOB_FUNCTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._executor = JobExecutor(self._settings, self._relay, self.executor_functions)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop, once the executor has started and built its runtime (a local model
        loaded: the worker takes no job it could not start on, which a ready worker of the
        fleet would), stopped when the loop ends, however it ends."""
        self._executor.start()
        if not self._executor.wait_until_ready(self._settings.job_timeout):
            _log.warning("the executor is not ready yet; taking jobs anyway")
        try:
            return super().work(*args, **kwargs)
        finally:
            self._executor.stop()

    def execute_job(self, job: Job, queue: Queue) -> None:
        if isinstance(job, ExecutorJob):
            job.runner = partial(self._run_in_executor, job)
        super().execute_job(job, queue)

    def _run_in_executor(self, job: Job, call: JobCall) -> Any:
        try:
            return self._executor.run(call, timeout=job.timeout or self._settings.job_timeout)
        except ExecutorCrashed as crash:
            raise self._crash_of(job, call, crash) from None

    def _crash_of(self, job: Job, call: JobCall, crash: ExecutorCrashed) -> IngestionError:
        """`crash` the first time the job crashes its executor; the second time, a
        `CrashedExecutorTwice`, also recorded on the job's document."""
        crashes = int(job.meta.get(_EXECUTOR_CRASHES, 0)) + 1
        job.meta[_EXECUTOR_CRASHES] = crashes
        try:
            job.save_meta()  # type: ignore[no-untyped-call]  # RQ leaves it unannotated
        except RedisError:
            _log.warning("job %s: could not count its executor crash", job.id, exc_info=True)
        if crashes < 2:
            return crash
        error = CrashedExecutorTwice(f"{CrashedExecutorTwice.default_message} ({crash.message})")
        if "document_id" in call.log_fields and "workspace_id" in call.log_fields:
            self._fail_document(call.log_fields, error)
        return error

    def _fail_document(self, ids: dict[str, str], error: CrashedExecutorTwice) -> None:
        command = ProcessDocument(UUID(ids["document_id"]), UUID(ids["workspace_id"]))
        try:
            self._runtime.fail_crashed_attempt()(command, error)
        except IngestionError:
            _log.warning(
                "document %s: could not record %s; recovery will settle it",
                command.document_id,
                error.code,
                exc_info=True,
            )


#: The key in a job's meta counting the executor crashes its runs caused.
_EXECUTOR_CRASHES = "executor_crashes"


def work_until_stopped(
    worker_class: type[IngestionWorkerMixin],
    queues: Sequence[str],
    connection: Redis,
    *,
    burst: bool,
    logging_level: str,
) -> None:
    """Run RQ's work loop until a stop is requested (SIGTERM/SIGINT) or a burst ends.

    RQ's loop quits on a Redis error raised outside its dequeue (after a job, in a heartbeat or
    maintenance, or at once when Redis answers but refuses writes: out of memory, a read-only
    replica): then this starts a fresh worker once Redis answers, after a pause that doubles
    while the loop keeps ending (`RestartPauses`), so neither a Redis restart takes the process
    down nor a Redis refusing writes makes it spin. A run of restarts is logged once.
    """
    pauses = RestartPauses()
    while True:
        worker = worker_class(list(queues), connection=connection)
        began = monotonic()
        error: RedisError | None = None
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
        except RedisError as raised:
            error = raised
        if burst or stop_was_requested(worker):
            return
        pause = pauses.after_a_loop_of(monotonic() - began)
        if pause == pauses.shortest:
            _log.warning(
                "the work loop ended unexpectedly%s; starting it again once Redis answers, "
                "after pauses doubling from %s s to %s s while it keeps ending",
                f" ({error})" if error else "",
                pauses.shortest,
                pauses.longest,
            )
        if not _wait_for_redis(connection, pause):
            return


@dataclass(slots=True)
class RestartPauses:
    """The pause before starting the work loop again: `shortest` after a loop that ran at least
    `longest` seconds, doubling (up to `longest`) after each loop that ended sooner."""

    shortest: float = 0.25
    longest: float = 10.0
    _next: float = field(default=0.0, init=False)

    def after_a_loop_of(self, seconds: float) -> float:
        if seconds >= self.longest or not self._next:
            self._next = self.shortest
        pause = self._next
        self._next = min(pause * 2, self.longest)
        return pause


def _wait_for_redis(connection: Redis, pause: float) -> bool:
    """Wait `pause` seconds, then ping Redis with the same pause until it answers (True), or
    until SIGTERM/SIGINT comes (False)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    answered_before = True
    while not stop.wait(pause):
        try:
            connection.ping()
        except RedisError:
            answered_before = False
            continue
        if not answered_before:
            _log.info("Redis answers again; restarting the work loop")
        return True
    return False


def _capped(value: float | None, limit: int, *, allow_zero: bool) -> int:
    lowest = 0 if allow_zero else 1
    return int(value) if value is not None and lowest <= value <= limit else limit


def is_permanent(error: BaseException) -> bool:
    """Whether retrying the job cannot help, by the policy (a payload RQ could not decode is
    an `UndecodableJob`)."""
    return not RetryPolicy.retries(failure_of(error))


def worker_class_for(settings: Settings) -> type[IngestionWorkerMixin]:
    """The worker class WORKER_MODE names; it reaches the application through the installed
    `runtime`."""
    return _WORKER_CLASSES[settings.worker_mode]


_WORKER_CLASSES: dict[WorkerMode, type[IngestionWorkerMixin]] = {
    WorkerMode.FORK: IngestionWorker,
    WorkerMode.INLINE: InlineIngestionWorker,
    WorkerMode.POOL: PooledIngestionWorker,
}


def _job_fields(job: Job) -> dict[str, str]:
    """The job's id and, for an ingestion job, the ids among its arguments that are UUIDs: the
    context of every line logged while it runs."""
    fields = {"job_id": job.id}
    try:
        if job.func_name != PROCESS_DOCUMENT_JOB:
            return fields
        args, kwargs = job.args, job.kwargs
    except DeserializationError:
        return fields
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        return fields  # the job fails as an invalid argument when it runs
    arguments = dict(zip(("document_id", "workspace_id"), args, strict=False))
    arguments.update(kwargs)
    for name in ("document_id", "workspace_id"):
        if _is_uuid(arguments.get(name)):
            fields[name] = str(arguments[name])
    return fields


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _horse_death(job: Job, wait_status: int) -> IngestionError:
    """Why a work horse ended before its job: past the job's timeout (RQ kills a horse that
    outlives it), or killed by a signal or exiting."""
    ran = (job.ended_at - job.started_at).total_seconds() if job.started_at and job.ended_at else 0
    if job.timeout and 0 < job.timeout < ran:
        return JobTimedOut(f"{JobTimedOut.default_message} ({job.timeout} s)")
    code = os.waitstatus_to_exitcode(wait_status)
    how = f"killed by signal {-code} ({signal.strsignal(-code)})" if code < 0 else f"exit {code}"
    return WorkerDied(f"{WorkerDied.default_message}: {how}")


def _function_name(job: Job) -> str:
    try:
        name = job.func_name
    except DeserializationError:
        return "undecodable"
    return name if name in ALLOWED_JOB_FUNCTIONS else "refused"


def _outcome(job: Job, *, refresh: bool) -> str:
    try:
        status = job.get_status(refresh=refresh)
    except (RedisError, InvalidJobOperation):
        return "unknown"
    if status == JobStatus.FINISHED:
        return "success"
    if status in (JobStatus.SCHEDULED, JobStatus.QUEUED):
        return "retry"
    return "failure"
