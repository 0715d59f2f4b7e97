"""Enqueuing processing jobs on an RQ queue in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

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

    def __init__(self, connection: Redis, queue_name: str, policy: JobPolicy) -> None:
        self._queue = Queue(queue_name, connection=connection, serializer=SERIALIZER)
        self._policy = policy

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
