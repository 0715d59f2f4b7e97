"""Enqueuing processing jobs on an RQ queue in Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from application.errors import DependencyUnavailable
from application.ports import JobQueue
from infrastructure.queue.connection import SERIALIZER
from infrastructure.queue.job_paths import PROCESS_DOCUMENT_JOB


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """How RQ keeps and retries a job: seconds, and one retry delay per retry allowed."""

    job_timeout: int
    result_ttl: int
    failure_ttl: int
    retry_intervals: tuple[int, ...] = ()


class RqJobQueue(JobQueue):
    """Enqueues `worker.jobs.process_document_job(document_id, workspace_id)` on an RQ queue.

    The job names its function by dotted path (never a pickled callable) and carries its two
    arguments as JSON strings, so any RQ client can enqueue the same job. Each enqueue is one
    Redis round trip; no transaction spans anything else. Redis failures raise
    `DependencyUnavailable`.
    """

    def __init__(
        self,
        connection: Redis,
        queue_name: str,
        policy: JobPolicy,
        consumed_queues: Sequence[str] = (),
    ) -> None:
        """Enqueue on `queue_name`; count unfinished jobs on it and on `consumed_queues`."""
        self._queue = Queue(queue_name, connection=connection, serializer=SERIALIZER)
        self._policy = policy
        self._connection = connection
        self._count_keys = _count_keys(
            [queue_name, *(q for q in consumed_queues if q != queue_name)], connection
        )

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        policy = self._policy
        retry = (
            Retry(len(policy.retry_intervals), policy.retry_intervals)
            if policy.retry_intervals
            else None
        )
        try:
            job = self._queue.enqueue_call(
                PROCESS_DOCUMENT_JOB,
                args=(str(document_id), str(workspace_id)),
                timeout=policy.job_timeout,
                result_ttl=policy.result_ttl,
                failure_ttl=policy.failure_ttl,
                description=f"process document {document_id}",
                retry=retry,
            )
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not enqueue on Redis: {e}") from e
        return job.id

    def unfinished_jobs(self) -> int:
        pipeline = self._connection.pipeline(transaction=False)
        for kind, key in self._count_keys:
            if kind == "list":
                pipeline.llen(key)
            else:
                pipeline.zcard(key)
        try:
            return sum(pipeline.execute())
        except (RedisError, OSError) as e:
            raise DependencyUnavailable(f"could not count jobs on Redis: {e}") from e


def _count_keys(queue_names: Sequence[str], connection: Redis) -> list[tuple[str, str]]:
    """The Redis keys holding each queue's waiting, scheduled, deferred and running jobs."""
    keys: list[tuple[str, str]] = []
    for name in queue_names:
        queue = Queue(name, connection=connection, serializer=SERIALIZER)
        keys.append(("list", queue.key))
        for registry in (ScheduledJobRegistry, DeferredJobRegistry, StartedJobRegistry):
            keys.append(("zset", registry(queue=queue).key))
    return keys
