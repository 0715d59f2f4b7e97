"""The executor keeps its embedder's connections across jobs: jobs in a row against an
OpenAI-compatible provider open no more TCP connections than the client's pool holds, where a
forked work horse opens its own for every job."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.faults.harness import FaultWorld, small_document
from tests.fixtures.embedding_server import EmbeddingServer

JOBS = 20
CONCURRENCY = 2


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(world: FaultWorld) -> Iterator[None]:
    yield
    world.stop_workers()


def connections_for_jobs(world: FaultWorld, mode: str) -> int:
    """TCP connections the provider accepted while one worker in `mode` ran `JOBS` documents."""
    server = EmbeddingServer(dimension=32)
    server.start()
    try:
        workspace = uuid4()
        ids = [world.submit(workspace, *small_document(i)).id for i in range(JOBS)]
        world.start_worker(
            EMBEDDER="openai",
            EMBEDDING_BASE_URL=server.url,
            EMBEDDING_MODEL="test-embedder",
            EMBEDDING_CONCURRENCY=str(CONCURRENCY),
            WORKER_MODE=mode,
        )
        rows = world.wait_for_final(ids, timeout=120)
    finally:
        server.stop()
    assert {r.status for r in rows.values()} == {"ready"}
    return server.connections


def test_the_default_executor_reuses_its_connections_across_jobs(world: FaultWorld) -> None:
    assert 1 <= connections_for_jobs(world, "pool") <= CONCURRENCY


def test_a_forked_work_horse_opens_its_own_connection_for_every_job(world: FaultWorld) -> None:
    assert connections_for_jobs(world, "fork") >= JOBS
