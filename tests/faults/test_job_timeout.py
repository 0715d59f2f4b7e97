"""A job that runs past JOB_TIMEOUT is known to have timed out at once: its document goes back
to `queued` with the reason `timeout` and is tried again within the attempt budget, without
waiting for the processing lease (kept for workers that really died)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.faults.harness import FaultWorld, Row, small_document, wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Reply


@pytest.fixture
def held_embedder() -> Iterator[EmbeddingServer]:
    """An embedder whose first reply never comes (until the test ends), then answers."""
    server = EmbeddingServer(dimension=32)
    server.script(Reply(hold=True))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(world: FaultWorld) -> Iterator[None]:
    yield
    world.stop_workers()


def _start_worker(world: FaultWorld, embedder: EmbeddingServer, mode: str, **more: str) -> None:
    world.start_worker(
        WORKER_MODE=mode,
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=embedder.url,
        EMBEDDING_MODEL="test-embedder",
        EMBEDDING_TIMEOUT="60",
        JOB_TIMEOUT="2",
        PROCESSING_LEASE="3600",
        RECOVERY_INTERVAL="3600",
        **more,
    )


# Each wait below is bounded well below the lease: were the timeout not handled at once, the
# document would stay `processing` for an hour.


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["fork", "inline", "pool"])
def test_a_timed_out_job_hands_its_document_back_to_queued_with_the_reason_timeout(
    world: FaultWorld, held_embedder: EmbeddingServer, mode: str
) -> None:
    _start_worker(world, held_embedder, mode, MAX_ATTEMPTS="3", RETRY_BACKOFF="3600")

    document = world.submit(uuid4(), *small_document(1))

    def handed_back() -> Row | None:
        row = world.rows([document.id])[document.id]
        return row if (row.status, row.attempts) == ("queued", 1) else None

    row = wait_until(handed_back, 60, "the document to be queued again")
    assert row.error_code == "timeout", row


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["fork", "inline", "pool"])
def test_a_timed_out_last_attempt_fails_its_document_at_once(
    world: FaultWorld, held_embedder: EmbeddingServer, mode: str
) -> None:
    _start_worker(world, held_embedder, mode, MAX_ATTEMPTS="1")

    document = world.submit(uuid4(), *small_document(1))

    row = world.wait_for_final([document.id], timeout=60, final=("failed",))[document.id]
    assert (row.error_code, row.attempts) == ("retries_exhausted", 1), row
    assert "ran past its timeout" in (row.error_message or ""), row
