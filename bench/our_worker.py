"""The project's worker class as the overhead measurement runs it, imported only for `--kind ours`
(so a plain RQ process loads none of it)."""

from __future__ import annotations

from typing import Any

import punq
from redis import Redis
from rq.utils import import_attribute
from rq.worker import BaseWorker

from bench.jobs import NOOP_JOB
from worker.worker import AllowlistedJob, bind_worker_class


class NoopAllowedJob(AllowlistedJob):
    """Our job class, also running the harness's no-op job (resolved as RQ resolves any job)."""

    @property
    def func(self) -> Any:
        return import_attribute(NOOP_JOB) if self.func_name == NOOP_JOB else super().func


def our_worker(container: punq.Container, queue: str, allow_noop: bool) -> BaseWorker:
    """The worker class WORKER_MODE names, bound to `container`, listening on `queue`."""
    worker = bind_worker_class(container)([queue], connection=container.resolve(Redis))
    if allow_noop:
        worker.job_class = NoopAllowedJob
    return worker
