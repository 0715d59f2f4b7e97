"""Every use of RQ's undocumented internals, in one place.

RQ's public API (enqueue, Job, the registries' `get_job_ids`/`count`, Worker's constructor
options) covers what most callers need, but not six things this project does: settle jobs a
dead worker left (in RQ's intermediate list or started registry) before RQ's own cleanup
retries them late or fails them; count jobs and workers without RQ's counters, which clean up
(write) as they read; tell whether a worker's loop ended because a stop was asked for; choose
the text RQ records for a failed job (`FailureHooks`); load a job hash an outside client
wrote without trusting it (`GuardedJob`), and fail one that cannot be loaded at all
(`quarantine_undecodable_jobs`); and make a job that runs past its timeout end with an
application error (`TimeoutPenalty`).
Each function below names the internal it relies on and why no public API does it.

pyproject.toml pins RQ to the minor version these were written against, and
tests/integration/queue/test_rq_internals_canary.py fails, naming the internal, when an RQ release
no longer has one. Other modules use only RQ's public API plus this module.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError, TimeoutFormatError
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.timeouts import BaseTimeoutException, JobTimeoutException, UnixSignalDeathPenalty
from rq.utils import current_timestamp, parse_timeout, utcparse
from rq.worker import BaseWorker
from rq.worker_registration import REDIS_WORKER_KEYS

from application.errors import JobTimedOut, UndecodableJob

#: The set of every registered worker's hash key (RQ's worker registration).
WORKERS_KEY: str = REDIS_WORKER_KEYS
#: The field of a worker's hash that holds its state (`idle`, `busy`, ...).
WORKER_STATE_FIELD = "state"

_REGISTRIES = {
    "started": StartedJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "deferred": DeferredJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "canceled": CanceledJobRegistry,
}


@dataclass(frozen=True, slots=True)
class StartedExecution:
    """One entry of a queue's started registry: a job a worker took and began.

    `started_at` is the execution's creation time (or, if its record is gone, its heartbeat
    deadline); `heartbeat_expired` is RQ's own test of a dead worker (the deadline passed)."""

    job_id: str
    execution_id: str
    started_at: float
    heartbeat_expired: bool


def queue_key(queue_name: str) -> str:
    """The Redis list of the jobs waiting on `queue_name`.

    RQ's key layout (`Queue.redis_queue_namespace_prefix`): `Queue.count` would do, but one
    round trip per queue; this key lets a caller pipeline LLENs."""
    return f"{Queue.redis_queue_namespace_prefix}{queue_name}"


def job_key(job_id: str) -> str:
    """The hash holding a job (`rq:job:<id>`), read directly so a scrape fetches one field of
    it instead of deserializing the whole job."""
    return str(Job.key_for(job_id))


def parse_timestamp(text: str) -> datetime:
    """A timestamp as RQ stores it in a job's hash (`enqueued_at`, ...), in UTC (`rq.utils`)."""
    return utcparse(text)


def registry_keys(queue_name: str) -> Mapping[str, str]:
    """The sorted set of each of `queue_name`'s job registries, by status name.

    RQ's key layout (each registry's `key_template`): the public `registry.count` first runs
    the registry's cleanup, which moves expired jobs and fires failure callbacks, and a probe or
    a scrape must not write."""
    return {status: cls.key_template.format(queue_name) for status, cls in _REGISTRIES.items()}


def intermediate_job_ids(queue: Queue) -> list[str]:
    """Ids in `queue`'s intermediate list: jobs a worker took (RQ's BLMOVE at dequeue) and has
    not yet recorded as started, or never will because it died in between.

    `Queue.intermediate_queue` (`IntermediateQueue.get_job_ids`): RQ has no public view of
    taken-but-unstarted jobs; its own cleanup of them fails the job instead of running it again.
    """
    return queue.intermediate_queue.get_job_ids()


def first_seen_in_intermediate(queue: Queue, job_id: str) -> datetime | None:
    """When RQ's cleanup first saw `job_id` in `queue`'s intermediate list, if it did. Reads only.

    `IntermediateQueue.get_first_seen`: RQ records the moment (`set_first_seen`, a write) in
    its own registry cleanup and no public API reads it."""
    return queue.intermediate_queue.get_first_seen(job_id)


def overdue_in_intermediate(queue: Queue, job_id: str) -> bool:
    """Whether `job_id` has been in `queue`'s intermediate list longer than RQ allows (RQ's
    cleanup then fails it). False while it has no first-seen record. Reads only.

    `IntermediateQueue.should_be_cleaned_up`: RQ's own limit, which no public API exposes."""
    return queue.intermediate_queue.should_be_cleaned_up(job_id)


def intermediate_list_key(queue: Queue) -> str:
    """The Redis list behind `queue`'s intermediate list, for LREM in a caller's transaction.

    `Queue.intermediate_queue_key`: `IntermediateQueue.remove` cannot join a pipeline."""
    key: str = queue.intermediate_queue_key
    return key


def forget_first_seen(queue: Queue, job_id: str, pipeline: Any) -> None:
    """Delete the first-seen record of `job_id` in `queue`'s intermediate list, in `pipeline`.

    `IntermediateQueue.get_first_seen_key`: RQ deletes it nowhere itself (it expires in a day)."""
    pipeline.delete(queue.intermediate_queue.get_first_seen_key(job_id))


def started_executions(queue: Queue) -> list[StartedExecution]:
    """Every execution in `queue`'s started registry, with when it started. Two reads.

    RQ 2's started registry holds `<job id>:<execution id>` members (`Execution.composite_key`)
    scored by heartbeat deadline, and each execution's hash (`Execution.key`) its `created_at`:
    the public `StartedJobRegistry.get_job_ids` runs cleanup (a write) and drops both the
    execution ids and the times. The deadline test is RQ's (`utils.current_timestamp`)."""
    connection = queue.connection
    entries = cast(
        list[tuple[bytes, float]],
        connection.zrange(queue.started_job_registry.key, 0, -1, withscores=True),
    )
    executions = [Execution.from_composite_key(key.decode(), connection) for key, _ in entries]
    pipeline = connection.pipeline(transaction=False)
    for execution in executions:
        pipeline.hget(execution.key, "created_at")
    created = pipeline.execute()
    deadline_passed = current_timestamp()
    return [
        StartedExecution(
            job_id=execution.job_id,
            execution_id=execution.id,
            started_at=float(started) if started is not None else float(expires),
            heartbeat_expired=expires <= deadline_passed,
        )
        for execution, (_, expires), started in zip(executions, entries, created, strict=True)
    ]


def started_registry_entry(job_id: str, execution_id: str, connection: Redis) -> str:
    """The member of a started registry that stands for this execution (for a ZREM).

    `Execution.composite_key`: `StartedJobRegistry.remove_execution` cannot tell whether it
    removed anything, and the caller's ZREM is what decides which of two callers wins."""
    return str(Execution(execution_id, job_id, connection).composite_key)


def forget_execution(job_id: str, execution_id: str, connection: Redis, pipeline: Any) -> None:
    """Delete an execution's hash and its entry in the job's execution registry, in `pipeline`.

    `Execution.key` and `ExecutionRegistry`: `Execution.delete` also removes the started
    registry entry, which the caller has already taken with its own ZREM."""
    execution = Execution(execution_id, job_id, connection)
    pipeline.delete(execution.key)
    pipeline.zrem(ExecutionRegistry(job_id, connection).key, execution.id)


def put_back_at_the_head(job: Job, queue: Queue, pipeline: Any) -> None:
    """What RQ's enqueue does for a job without dependencies, at the front of the queue, inside
    the caller's MULTI.

    The steps of `Queue._enqueue_job` and `Queue.push_job_id(at_front=True)`: the public
    `Queue.enqueue_job` sets up dependencies with WATCH, which a started MULTI refuses."""
    job.origin = queue.name
    job.enqueued_at = datetime.now(UTC)
    job.set_status(JobStatus.QUEUED, pipeline=pipeline)
    job.save(pipeline=pipeline)
    queue.push_job_id(job.id, pipeline=pipeline, at_front=True)


def stop_was_requested(worker: BaseWorker) -> bool:
    """Whether `worker`'s loop was asked to stop (SIGTERM/SIGINT), as opposed to ending on an
    error.

    `BaseWorker._shutdown_requested_date`, set by RQ's signal handler: the public
    `shutdown_requested_date` reads it back from the worker's Redis hash, which is gone or
    unreachable exactly when the loop ended on a Redis error."""
    return worker._shutdown_requested_date is not None


class FailureHooks(BaseWorker):
    """A worker base with two hooks into how RQ records a failed job, for subclasses to fill.

    - `failure_scope(job, exception)` surrounds `BaseWorker.handle_exception`, which logs the
      failure with its traceback and runs the exception handlers, in the process that ran the
      job (the work horse, or an inline worker).
    - `describe_failure(job, exc_string)` turns RQ's text for a failure into the one RQ stores:
      `BaseWorker.handle_job_failure(job, queue, started_job_registry, exc_string)` is the one
      place RQ records every failed job (status, failed registry, and the failure Result whose
      `exc_string` clients read as `exc_info`), also a job whose work horse died; RQ has no
      public hook that may change that text.
    """

    @contextmanager
    def failure_scope(self, job: Job, exception: BaseException) -> Iterator[None]:
        yield

    def describe_failure(self, job: Job, exc_string: str) -> str:
        return exc_string

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        with self.failure_scope(job, exc_info[1]):
            super().handle_exception(job, *exc_info)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
    ) -> None:
        super().handle_job_failure(
            job,
            queue,
            started_job_registry=started_job_registry,
            exc_string=self.describe_failure(job, exc_string),
        )


def live_job_ids(queues: list[Queue]) -> set[str]:
    """The ids of every job on `queues` that may still run: waiting, taken and not yet started
    (the intermediate list), started, scheduled or deferred. One MULTI/EXEC of reads, so a job
    moving from one of these to the next while they are read is seen in one of them.

    `Queue.intermediate_queue_key` and `StartedJobRegistry.parse_job_id` (its members are
    `<job id>:<execution id>`): the registries' public `get_job_ids` run cleanup (a write), one
    round trip each outside any transaction, and RQ has no public view of the intermediate list.
    """
    with queues[0].connection.pipeline(transaction=True) as pipeline:
        executions: list[bool] = []
        for queue in queues:
            for key in (queue.key, queue.intermediate_queue_key):
                pipeline.lrange(key, 0, -1)
                executions.append(False)
            pipeline.zrange(queue.started_job_registry.key, 0, -1)
            executions.append(True)
            for registry in (queue.scheduled_job_registry, queue.deferred_job_registry):
                pipeline.zrange(registry.key, 0, -1)
                executions.append(False)
        replies = cast(list[list[bytes]], pipeline.execute())
    return {
        StartedJobRegistry.parse_job_id(member.decode()) if execution else member.decode()
        for execution, members in zip(executions, replies, strict=True)
        for member in members
    }


class GuardedJob(Job):
    """A job whose hash is loaded without trusting it: a payload that inflates past
    `payload_limit` bytes is not inflated, and a lifetime field that is not a number is dropped
    (the worker then gives the job its configured one).

    `Job.restore`, which `Job.fetch`/`refresh` call with the raw hash: it inflates the `data`
    field with an unbounded `zlib.decompress` (a 300 KB bomb costs hundreds of MB) and parses
    `timeout`, `result_ttl` and `failure_ttl` with exceptions that make the job unfetchable;
    RQ has no hook between reading a job's hash and decoding it.
    """

    payload_limit: ClassVar[int] = 1 << 20
    #: Why the payload was not loaded, when it was not.
    refusal: str | None = None

    def restore(self, raw_data: Any) -> Any:
        fields = dict(raw_data)
        self.refusal = None
        if _inflates_past(fields.get(b"data"), self.payload_limit):
            self.refusal = f"the job's payload inflates past {self.payload_limit} bytes"
            fields[b"data"] = b""
        for name, parse in _LIFETIME_FIELDS.items():
            if not _parses(parse, fields.get(name)):
                fields.pop(name, None)
        return super().restore(fields)


def _inflates_past(data: bytes | None, limit: int) -> bool:
    if not data:
        return False
    try:
        inflated = zlib.decompressobj().decompress(data, limit + 1)
    except zlib.error:
        return False  # RQ keeps a payload that is not compressed as it is
    return len(inflated) > limit


#: How `Job.restore` parses each lifetime field of a job's hash.
_LIFETIME_FIELDS: dict[bytes, Any] = {
    b"timeout": lambda value: parse_timeout(value.decode()),
    b"result_ttl": int,
    b"failure_ttl": int,
}


def _parses(parse: Any, value: bytes | None) -> bool:
    if not value:
        return True  # RQ reads an absent or empty field as unset
    try:
        parse(value)
    except (TimeoutFormatError, ValueError, UnicodeDecodeError):
        return False
    return True


class TransientJobTimeoutException(JobTimedOut, JobTimeoutException):
    """`JobTimedOut` (a transient application error, code `timeout`) that is also RQ's
    `JobTimeoutException`, for whatever in RQ tells a timeout by that class."""


class TimeoutPenalty(UnixSignalDeathPenalty):
    """RQ's SIGALRM death penalty, raising `TransientJobTimeoutException` in a job that outlives its
    timeout, so the use case running it hands its document back at once like any transient
    failure (instead of leaving it `processing` until its lease runs out).

    `BaseWorker.death_penalty_class` and the exception class RQ passes it: `perform_job` asks
    for `JobTimeoutException`, hard-coded; the same class also times the fork worker's wait for
    its work horse (`HorseMonitorTimeoutException`), which is left as it is.
    """

    def __init__(
        self, timeout: int, exception: type[Exception] = BaseTimeoutException, **kwargs: Any
    ) -> None:
        super().__init__(timeout, exception, **kwargs)  # type: ignore[no-untyped-call]
        self._job_timed_out = exception is JobTimeoutException

    def handle_death_penalty(self, signum: int, frame: Any) -> None:
        if self._job_timed_out:
            raise TransientJobTimeoutException(
                f"{JobTimedOut.default_message}: "
                f"Task exceeded maximum timeout value ({self._timeout} seconds)"
            )
        super().handle_death_penalty(signum, frame)  # type: ignore[no-untyped-call]


def quarantine_undecodable_jobs(queue: Queue, failure_ttl: int) -> list[str]:
    """Move every job in `queue`'s intermediate list or started registry whose hash cannot be
    loaded (even as a `GuardedJob`) to its failed registry, with the reason `undecodable_job`
    in the hash's `exc_info`; return their ids. No worker runs such a job: RQ cannot fetch it.

    RQ's key layout (the intermediate list, the started registry's `<job id>:<execution id>`
    members, the failed registry's expiry scores): `FailedJobRegistry.add` and the registries'
    removals need a `Job`, which is exactly what cannot be made here; RQ's own cleanup would
    fail on the job at every pass."""
    connection = queue.connection
    started = cast(list[bytes], connection.zrange(queue.started_job_registry.key, 0, -1))
    members: dict[str, list[bytes]] = {}
    for member in started:
        members.setdefault(member.decode().split(":", 1)[0], []).append(member)
    quarantined = []
    for job_id in dict.fromkeys([*intermediate_job_ids(queue), *members]):
        reason = _undecodable(job_id, queue)
        if reason is None:
            continue
        with connection.pipeline() as pipeline:
            pipeline.lrem(queue.intermediate_queue_key, 0, job_id)
            for member in members.get(job_id, []):
                pipeline.zrem(queue.started_job_registry.key, member)
            pipeline.zadd(
                queue.failed_job_registry.key, {job_id: current_timestamp() + failure_ttl}
            )
            pipeline.hset(
                Job.key_for(job_id),
                mapping={"status": JobStatus.FAILED.value, "exc_info": reason},
            )
            pipeline.execute()
        quarantined.append(job_id)
    return quarantined


def _undecodable(job_id: str, queue: Queue) -> str | None:
    """Why the job's hash cannot be loaded, as `undecodable_job: ...`; None if it can (or is
    gone)."""
    try:
        GuardedJob.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None
    except Exception as error:
        return f"{UndecodableJob.code}: the job's hash could not be loaded ({type(error).__name__})"
    return None


def readable_jobs(connection: Redis, job_ids: list[str], serializer: Any) -> list[Job]:
    """The jobs `job_ids` that exist and can be read, in one pipeline, each loaded guarded.

    `Job.restore` on each raw hash: `Job.fetch_many` would do, but one damaged job hash fails its
    whole batch, and it loads without `GuardedJob`'s bounds."""
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hgetall(Job.key_for(job_id))
        hashes = pipeline.execute()
    jobs: list[Job] = []
    for job_id, stored in zip(job_ids, hashes, strict=True):
        job = GuardedJob(job_id, connection=connection, serializer=serializer)
        try:
            job.restore(stored)
        except (NoSuchJobError, ValueError, TypeError, KeyError):
            continue
        jobs.append(job)
    return jobs
