"""The RQ queue: stable job paths, the enqueuer, the Redis connection."""

from infrastructure.queue.connection import (
    SERIALIZER,
    connect,
    ping,
    ping_and_write,
    quick_client,
)
from infrastructure.queue.job_paths import ALLOWED_JOB_FUNCTIONS, PROCESS_DOCUMENT_JOB
from infrastructure.queue.rq_queue import TRACE_CONTEXT_META_KEY, JobPolicy, RqJobQueue

__all__ = [
    "ALLOWED_JOB_FUNCTIONS",
    "PROCESS_DOCUMENT_JOB",
    "SERIALIZER",
    "TRACE_CONTEXT_META_KEY",
    "JobPolicy",
    "RqJobQueue",
    "connect",
    "ping",
    "ping_and_write",
    "quick_client",
]
