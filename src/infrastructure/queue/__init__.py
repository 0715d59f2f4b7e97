"""The RQ queue: stable job paths, the enqueuer, the Redis connection, side-effect-free counts."""

from infrastructure.queue.connection import (
    SERIALIZER,
    QueueFigures,
    WorkerFigures,
    connect,
    ping,
    queue_figures,
    worker_figures,
)
from infrastructure.queue.job_paths import ALLOWED_JOB_FUNCTIONS, PROCESS_DOCUMENT_JOB
from infrastructure.queue.rq_queue import JobPolicy, RqJobQueue

__all__ = [
    "ALLOWED_JOB_FUNCTIONS",
    "PROCESS_DOCUMENT_JOB",
    "SERIALIZER",
    "JobPolicy",
    "QueueFigures",
    "RqJobQueue",
    "WorkerFigures",
    "connect",
    "ping",
    "queue_figures",
    "worker_figures",
]
