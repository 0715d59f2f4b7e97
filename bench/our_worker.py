"""The project's worker class as the overhead measurement runs it, imported only for `--kind ours`
(so a plain RQ process loads none of it)."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq.utils import import_attribute
from rq.worker import BaseWorker

from bench.jobs import NOOP_JOB
from bootstrap import Container
from infrastructure.queue import ALLOWED_JOB_FUNCTIONS
from infrastructure.settings import Settings
from worker.executor import JobCall
from worker.runtime import WorkerRuntime, install
from worker.worker import AllowlistedJob, ExecutorJob, PooledIngestionWorker, worker_class_for


class NoopAllowedJob(AllowlistedJob):
    """Our job class, also running the harness's no-op job (resolved as RQ resolves any job)."""

    @property
    def func(self) -> Any:
        return import_attribute(NOOP_JOB) if self.func_name == NOOP_JOB else super().func


class NoopAllowedExecutorJob(ExecutorJob):
    """The pool's job class, also handing the harness's no-op job to the executor."""

    @property
    def func(self) -> Any:
        runner = self.runner
        if self.func_name != NOOP_JOB or runner is None:
            return super().func
        return lambda *args, **kwargs: runner(JobCall(NOOP_JOB, args, kwargs))


class NoopAllowedPooledWorker(PooledIngestionWorker):
    """The pool's worker, whose executor also runs the harness's no-op job."""

    executor_functions = ALLOWED_JOB_FUNCTIONS | {NOOP_JOB}


def our_worker(container: Container, queue: str, allow_noop: bool) -> BaseWorker:
    """The worker class WORKER_MODE names, on `container`'s runtime, listening on `queue`."""
    install(WorkerRuntime(container))
    worker_class = worker_class_for(container.resolve(Settings))
    if allow_noop and worker_class is PooledIngestionWorker:
        worker_class = NoopAllowedPooledWorker
    worker = worker_class([queue], connection=container.resolve(Redis))
    if allow_noop:
        pooled = isinstance(worker, PooledIngestionWorker)
        worker.job_class = NoopAllowedExecutorJob if pooled else NoopAllowedJob
    return worker
