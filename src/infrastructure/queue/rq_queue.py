"""Enqueuing processing jobs on an RQ queue in Redis."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from opentelemetry.propagate import inject
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from application.errors import DependencyUnavailable
from application.ports import AbandonedJob, JobQueue
from infrastructure.queue.connection import SERIALIZER
from infrastructure.queue.job_paths import PROCESS_DOCUMENT_JOB
from infrastructure.rq_internals import (
    GuardedJob,
    first_seen_in_intermediate,
    forget_execution,
    forget_first_seen,
    intermediate_job_ids,
    intermediate_list_key,
    live_job_ids,
    overdue_in_intermediate,
    put_back_at_the_head,
    readable_jobs,
    started_executions,
    started_registry_entry,
)

#: The key of `job.meta` that holds the enqueuer's trace context (W3C `traceparent`, and
#: `tracestate` when there is one), which the job's span continues.
TRACE_CONTEXT_META_KEY = "trace_context"

#: How many jobs one pipeline fetches while looking for documents' live jobs.
_FETCH_BATCH = 500


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """How RQ keeps and retries a job: seconds, and one retry delay per retry allowed."""

    job_timeout: int
    result_ttl: int
    failure_ttl: int
    retry_intervals: tuple[int, ...]


class RqJobQueue(JobQueue):
    """Enqueues `worker.jobs.process_document_job(document_id, workspace_id)` on an RQ queue.

    The job names its function by dotted path (never a pickled callable) and carries its two
    arguments as JSON strings, so any RQ client can enqueue the same job. Each enqueue, of one
    job or of a batch, is one Redis round trip; no transaction spans anything else. Redis
    failures raise `DependencyUnavailable`.

    Abandoned jobs are found where RQ leaves them when a worker dies: an execution in a consumed
    queue's StartedJobRegistry that began before the cutoff or whose heartbeat expired (RQ's
    own test), or a job id left in the queue's intermediate list (taken, never started) first
    seen before the cutoff or longer ago than RQ's own limit. Listing only reads: RQ's registry
    cleanup records when it first saw an intermediate entry, and an entry it has not seen yet
    counts as first seen now. Retiring one removes that entry
    first (ZREM or LREM: only one caller can succeed), then clears the rest in one MULTI/EXEC
    and either pushes the same job back to the head of its queue or records it failed, so RQ's
    registry cleanup never retries it later.

    The caller's current trace context (OpenTelemetry's, through its propagators) goes into the
    job's meta under `TRACE_CONTEXT_META_KEY`, so the job's span joins the caller's trace.
    """

    def __init__(
        self,
        connection: Redis,
        queue_name: str,
        policy: JobPolicy,
        *,
        consumed_queues: Sequence[str],
    ) -> None:
        """Enqueue on `queue_name`; find live and abandoned jobs on it and on `consumed_queues`."""
        self._queue = Queue(queue_name, connection=connection, serializer=SERIALIZER)
        self._policy = policy
        self._connection = connection
        names = [queue_name, *(q for q in consumed_queues if q != queue_name)]
        self._consumed = {
            name: Queue(name, connection=connection, serializer=SERIALIZER) for name in names
        }
        self._turn_key = f"ingestion:recovery-turn:{queue_name}"

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        return self.enqueue_processing_many([(document_id, workspace_id)])[0]

    def enqueue_processing_many(self, documents: Sequence[tuple[UUID, UUID]]) -> list[str]:
        """The jobs go in one MULTI/EXEC pipeline (RQ's `enqueue_many`)."""
        if not documents:
            return []
        policy = self._policy
        retry = (
            Retry(len(policy.retry_intervals), policy.retry_intervals)
            if policy.retry_intervals
            else None
        )
        jobs = [
            Queue.prepare_data(
                PROCESS_DOCUMENT_JOB,
                args=(str(document_id), str(workspace_id)),
                timeout=policy.job_timeout,
                result_ttl=policy.result_ttl,
                failure_ttl=policy.failure_ttl,
                description=f"process document {document_id}",
                retry=retry,
                meta=_trace_context_meta(),
            )
            for document_id, workspace_id in documents
        ]
        try:
            enqueued = self._queue.enqueue_many(jobs)
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not enqueue on Redis: {e}") from e
        return [job.id for job in enqueued]

    def documents_with_live_jobs(self, document_ids: Collection[UUID]) -> set[UUID]:
        """The live job ids of every consumed queue in one MULTI/EXEC of reads, then those jobs
        in pipelines of `_FETCH_BATCH`, until each document asked about has been found."""
        wanted = set(document_ids)
        live: set[UUID] = set()
        if not wanted:
            return live
        try:
            job_ids = sorted(live_job_ids(list(self._consumed.values())))
            for begin in range(0, len(job_ids), _FETCH_BATCH):
                batch = job_ids[begin : begin + _FETCH_BATCH]
                for job in self._fetch_many(batch):
                    arguments = _document_arguments(job)
                    if arguments is not None and arguments[0] in wanted:
                        live.add(arguments[0])
                if live == wanted:
                    break
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not read live jobs on Redis: {e}") from e
        return live

    def abandoned_jobs(self, taken_before: datetime, limit: int) -> list[AbandonedJob]:
        cutoff = taken_before.timestamp()
        found: list[AbandonedJob] = []
        try:
            for queue in self._consumed.values():
                for job_id, taken_at, handle in _taken_and_abandoned(queue, cutoff):
                    arguments = self._document_arguments(job_id)
                    if arguments is not None:
                        moment = datetime.fromtimestamp(taken_at, UTC)
                        found.append(AbandonedJob(job_id, *arguments, moment, handle))
                    if len(found) >= limit:
                        return found
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not read running jobs on Redis: {e}") from e
        return found

    def retire_abandoned(self, job: AbandonedJob, *, run_again: bool) -> bool:
        queue_name, execution_id = json.loads(job.handle)
        queue = self._consumed.get(queue_name)
        if queue is None:
            return False
        connection = self._connection
        intermediate_key = intermediate_list_key(queue)
        try:
            stored = GuardedJob.fetch(job.job_id, connection=connection, serializer=SERIALIZER)
            if execution_id:
                entry = started_registry_entry(job.job_id, execution_id, connection)
                taken = connection.zrem(queue.started_job_registry.key, entry)
            else:
                taken = connection.lrem(intermediate_key, 1, job.job_id)
            if not taken:
                return False
            with connection.pipeline() as pipeline:
                pipeline.lrem(intermediate_key, 0, job.job_id)
                forget_first_seen(queue, job.job_id, pipeline)
                if execution_id:
                    forget_execution(job.job_id, execution_id, connection, pipeline)
                if run_again:
                    put_back_at_the_head(stored, queue, pipeline)
                else:
                    _record_abandoned(stored, queue, pipeline)
                pipeline.execute()
        except NoSuchJobError:
            return False
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not retire an abandoned job on Redis: {e}") from e
        return True

    def take_recovery_turn(self, interval: timedelta) -> bool:
        """One key per consumed queue set with NX and an expiry of `interval`: whoever sets it
        has the turn until it expires."""
        seconds = max(1, round(interval.total_seconds()))
        try:
            return bool(self._connection.set(self._turn_key, "taken", nx=True, ex=seconds))
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not take the recovery turn on Redis: {e}") from e

    def _fetch_many(self, job_ids: list[str]) -> list[Job]:
        return readable_jobs(self._connection, job_ids, SERIALIZER)

    def _document_arguments(self, job_id: str) -> tuple[UUID, UUID] | None:
        """The job's (document id, workspace id) if it is a processing job, else None."""
        try:
            job = GuardedJob.fetch(job_id, connection=self._connection, serializer=SERIALIZER)
        except (RedisError, OSError):
            raise
        except Exception:  # missing, or a hash RQ cannot load: the worker's quarantine fails it
            return None
        return _document_arguments(job)


def _document_arguments(job: Job) -> tuple[UUID, UUID] | None:
    """`job`'s (document id, workspace id) if it is a processing job, else None."""
    try:
        if job.func_name != PROCESS_DOCUMENT_JOB or len(job.args) > 2:
            return None
        named = dict(zip(("document_id", "workspace_id"), job.args, strict=False))
        named.update(job.kwargs)
        document_id, workspace_id = named.pop("document_id"), named.pop("workspace_id")
        if named or not isinstance(document_id, str) or not isinstance(workspace_id, str):
            return None
        return UUID(document_id), UUID(workspace_id)
    except (DeserializationError, KeyError, ValueError):
        return None


def _taken_and_abandoned(queue: Queue, cutoff: float) -> list[tuple[str, float, str]]:
    """(job id, when taken, handle) of each job a worker took from `queue` and abandoned.

    Reads only. An intermediate entry RQ's cleanup has not seen yet counts as first seen now: it
    is listed only with a cutoff in the future, as it was when this listing recorded the moment
    itself."""
    waiting_to_start = intermediate_job_ids(queue)  # read first: a live job moves on from here
    executions = started_executions(queue)
    found: list[tuple[str, float, str]] = []
    for execution in executions:
        if execution.started_at < cutoff or execution.heartbeat_expired:
            found.append(
                (execution.job_id, execution.started_at, _handle(queue, execution.execution_id))
            )
    running = {execution.job_id for execution in executions}
    for job_id in waiting_to_start:
        if job_id in running:
            continue
        first_seen = first_seen_in_intermediate(queue, job_id) or datetime.now(UTC)
        if first_seen.timestamp() < cutoff or overdue_in_intermediate(queue, job_id):
            found.append((job_id, first_seen.timestamp(), _handle(queue, None)))
    return found


def _handle(queue: Queue, execution_id: str | None) -> str:
    return json.dumps([queue.name, execution_id])


def _record_abandoned(job: Job, queue: Queue, pipeline: Any) -> None:
    job.ended_at = datetime.now(UTC)
    job.set_status(JobStatus.FAILED, pipeline=pipeline)
    FailedJobRegistry(queue=queue).add(
        job,
        ttl=job.failure_ttl,
        exc_string="abandoned: the worker that took it stopped before it ended; not run again",
        pipeline=pipeline,
    )


def _trace_context_meta() -> dict[str, object] | None:
    """The current trace context as job meta, or None outside any trace."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return {TRACE_CONTEXT_META_KEY: carrier} if carrier else None
