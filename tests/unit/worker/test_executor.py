"""WORKER_MODE=pool: the worker class, the job that runs elsewhere, and errors that cross."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from redis import Redis
from rq import SimpleWorker

from application.errors import ForbiddenJob, InternalError, JobTimedOut
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import WorkerMode, load_settings
from worker.executor import JobCall, _portable
from worker.worker import ExecutorJob, IngestionWorkerMixin, PooledIngestionWorker, worker_class_for


def test_pool_mode_picks_a_simple_worker_whose_jobs_run_in_the_executor(tmp_path: Path) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
        data_dir=tmp_path,
        worker_mode=WorkerMode.POOL,
    )
    chosen = worker_class_for(settings)

    assert chosen is PooledIngestionWorker
    assert issubclass(chosen, IngestionWorkerMixin)
    assert issubclass(chosen, SimpleWorker)
    assert chosen.job_class is ExecutorJob


def _job(function_name: str, *args: Any) -> ExecutorJob:
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never reached: nothing is saved
    job = ExecutorJob.create(function_name, args=args, serializer=SERIALIZER, connection=redis)
    assert isinstance(job, ExecutorJob)
    return job


def test_a_job_given_a_runner_hands_it_the_call_with_the_ids_to_log() -> None:
    document, workspace = str(uuid4()), str(uuid4())
    job = _job(PROCESS_DOCUMENT_JOB, document, workspace)
    calls: list[JobCall] = []
    job.runner = lambda call: calls.append(call) or "done"

    assert job.func(document, workspace) == "done"
    assert calls == [
        JobCall(
            PROCESS_DOCUMENT_JOB,
            (document, workspace),
            {},
            {"job_id": job.id, "document_id": document, "workspace_id": workspace},
        )
    ]


def test_a_job_given_a_runner_still_refuses_what_is_not_allowed() -> None:
    job = _job("os.system", "true")
    job.runner = lambda call: pytest.fail("a refused job reached the executor")

    with pytest.raises(ForbiddenJob):
        _ = job.func


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return _portable(caught)


def test_our_errors_cross_with_their_code_attempts_and_the_executors_traceback() -> None:
    error = JobTimedOut("slow")
    error.attempts = 3

    crossed = pickle.loads(pickle.dumps(_raised(error)))

    assert type(crossed) is JobTimedOut
    assert (crossed.code, crossed.attempts, str(crossed)) == ("timeout", 3, "slow")
    assert "in the executor" in "".join(crossed.__notes__)


def test_an_error_that_cannot_cross_becomes_an_internal_error_with_its_text() -> None:
    class Unpicklable(Exception):
        def __init__(self) -> None:
            super().__init__("holds a lock")
            self.lock = threading.Lock()

    crossed = pickle.loads(pickle.dumps(_raised(Unpicklable())))

    assert type(crossed) is InternalError
    assert "Unpicklable: holds a lock" in str(crossed)
