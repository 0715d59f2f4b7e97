"""WORKER_MODE picks the worker class; both kinds share the ingestion rules."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker, Worker

from bootstrap import build_container
from infrastructure.settings import WorkerMode, load_settings
from worker.worker import (
    AllowlistedJob,
    IngestionWorker,
    IngestionWorkerMixin,
    InlineIngestionWorker,
    bind_worker_class,
)


@pytest.mark.parametrize(
    ("mode", "ingestion_class", "rq_class"),
    [
        (WorkerMode.FORK, IngestionWorker, Worker),
        (WorkerMode.INLINE, InlineIngestionWorker, SimpleWorker),
    ],
)
def test_worker_mode_picks_the_class_bound_to_the_container(
    tmp_path: Path, mode: WorkerMode, ingestion_class: type, rq_class: type
) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
        data_dir=tmp_path,
        worker_mode=mode,
    )
    container = build_container(settings)

    bound = bind_worker_class(container)

    assert issubclass(bound, ingestion_class)
    assert issubclass(bound, IngestionWorkerMixin)
    assert issubclass(bound, rq_class)
    assert bound.container is container
    assert bound.job_class is AllowlistedJob



def test_a_forking_worker_freezes_what_it_loaded_before_its_first_horse(
    tmp_path: Path, redis_url: str
) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url=redis_url,
        data_dir=tmp_path,
        worker_mode=WorkerMode.FORK,
    )
    worker_class = bind_worker_class(build_container(settings))
    worker = worker_class(["frozen"], connection=Redis.from_url(redis_url))
    gc.unfreeze()
    try:
        worker.bootstrap(logging_level="WARNING")
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
        worker.teardown()

    assert frozen > 0
