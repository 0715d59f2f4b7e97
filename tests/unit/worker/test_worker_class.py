"""WORKER_MODE picks the worker class; both kinds share the ingestion rules."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker, Worker

from bootstrap import build_container
from infrastructure.settings import WorkerMode, load_settings
from worker.runtime import WorkerRuntime, install
from worker.worker import (
    AllowlistedJob,
    IngestionWorker,
    IngestionWorkerMixin,
    InlineIngestionWorker,
    worker_class_for,
)


@pytest.mark.parametrize(
    ("mode", "ingestion_class", "rq_class"),
    [
        (WorkerMode.FORK, IngestionWorker, Worker),
        (WorkerMode.INLINE, InlineIngestionWorker, SimpleWorker),
    ],
)
def test_worker_mode_picks_the_class(
    tmp_path: Path, mode: WorkerMode, ingestion_class: type, rq_class: type
) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
        data_dir=tmp_path,
        worker_mode=mode,
    )
    chosen = worker_class_for(settings)

    assert issubclass(chosen, ingestion_class)
    assert issubclass(chosen, IngestionWorkerMixin)
    assert issubclass(chosen, rq_class)
    assert chosen.job_class is AllowlistedJob


def test_a_forking_worker_freezes_what_it_loaded_before_its_first_horse(
    tmp_path: Path, redis_url: str
) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url=redis_url,
        embedder="hashing",
        data_dir=tmp_path,
        worker_mode=WorkerMode.FORK,
    )
    install(WorkerRuntime(build_container(settings)))
    worker = worker_class_for(settings)(["frozen"], connection=Redis.from_url(redis_url))
    gc.unfreeze()
    try:
        worker.bootstrap(logging_level="WARNING")
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
        worker.teardown()
        install(None)

    assert frozen > 0
