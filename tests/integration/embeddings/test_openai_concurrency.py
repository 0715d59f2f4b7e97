"""The OpenAI-compatible embedder keeping several requests in flight, under a shared limit."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest
from redis import Redis

from application.errors import EmbedderThrottled, EmbedderUnavailable
from infrastructure.embeddings import HashingEmbedder, OpenAICompatibleEmbedder
from infrastructure.embeddings.openai_compatible import RequestLimits
from infrastructure.memory import InMemoryTelemetry
from infrastructure.rate_limits import Budgets, RedisRateLimiter
from tests.fixtures.embedding_server import EmbeddingServer, Provider, Reply

DIMENSION = 32


@pytest.fixture
def slow_server() -> Iterator[EmbeddingServer]:
    """A provider that takes a while over each request, so requests overlap."""
    server = EmbeddingServer(DIMENSION, Provider(latency=0.2))
    server.start()
    yield server
    server.stop()


def test_requests_overlap_and_vectors_keep_the_input_order(slow_server: EmbeddingServer) -> None:
    texts = [f"text number {n}" for n in range(20)]
    embedder = OpenAICompatibleEmbedder(
        slow_server.url,
        "hashing",
        dimension=DIMENSION,
        limits=RequestLimits(max_inputs=2, concurrency=4),
        timeout=30,
    )
    try:
        vectors = embedder.embed(texts)
    finally:
        embedder.close()

    assert len(slow_server.requests) == 10
    assert 1 < slow_server.peak_in_flight <= 4
    expected = HashingEmbedder(dimension=DIMENSION).embed(texts)
    assert [list(v) for v in vectors] == [pytest.approx(e, abs=1e-6) for e in expected]


def test_the_connection_pool_outlives_each_call(slow_server: EmbeddingServer) -> None:
    embedder = OpenAICompatibleEmbedder(
        slow_server.url, "hashing", dimension=DIMENSION, limits=RequestLimits(), timeout=30
    )
    try:
        embedder.embed(["one"])
        client = embedder._http()  # noqa: SLF001 - the pool itself is what is checked
        embedder.embed(["two"])
        assert embedder._http() is client  # noqa: SLF001
    finally:
        embedder.close()


def test_a_429_pauses_the_second_workers_requests_too(
    embedding_server: EmbeddingServer, redis_connection: Redis, redis_url: str
) -> None:
    """The first worker's 429 (Retry-After past what it may wait) defers its document; the
    second worker, with its own limiter on the same Redis, would have to wait out the pause
    (longer than it may) and defers without sending anything."""
    embedding_server.script(Reply(429, {"Retry-After": "120"}))
    telemetry = [InMemoryTelemetry(), InMemoryTelemetry()]
    workers = [
        OpenAICompatibleEmbedder(
            embedding_server.url,
            "hashing",
            dimension=DIMENSION,
            limits=RequestLimits(),
            timeout=30,
            rate_limiter=RedisRateLimiter(Redis.from_url(redis_url), "provider", Budgets()),
            max_throttle_wait=max_wait,
            telemetry=seen,
        )
        for max_wait, seen in zip((60, 30), telemetry, strict=True)
    ]
    try:
        with pytest.raises(EmbedderThrottled):
            workers[0].embed(["first"])
        with pytest.raises(EmbedderThrottled):
            workers[1].embed(["second"])
    finally:
        for worker in workers:
            worker.close()

    assert len(embedding_server.requests) == 1
    assert [t.rate_limited_responses for t in telemetry] == [1, 0]


def test_an_interrupted_call_hands_over_the_vectors_it_received(
    embedding_server: EmbeddingServer,
) -> None:
    embedding_server.script(Reply(), Reply(503))
    embedder = OpenAICompatibleEmbedder(
        embedding_server.url,
        "hashing",
        dimension=DIMENSION,
        limits=RequestLimits(max_inputs=2, concurrency=1),
        timeout=30,
        max_retries=0,
    )
    texts = ["one", "two", "three", "four"]
    try:
        with pytest.raises(EmbedderUnavailable) as raised:
            embedder.embed(texts)
    finally:
        embedder.close()

    assert sorted(raised.value.received) == [0, 1]
    expected = HashingEmbedder(dimension=DIMENSION).embed(texts[:2])
    assert [list(raised.value.received[i]) for i in (0, 1)] == [
        pytest.approx(e, abs=1e-6) for e in expected
    ]


class _Interrupted(Exception):
    """What a job timeout raises into the thread waiting on `embed`."""


def test_an_interrupted_call_leaves_no_request_behind(embedding_server: EmbeddingServer) -> None:
    embedding_server.script(Reply(hold=True), Reply(hold=True))
    embedder = OpenAICompatibleEmbedder(
        embedding_server.url,
        "hashing",
        dimension=DIMENSION,
        limits=RequestLimits(max_inputs=1, concurrency=2),
        timeout=30,
    )

    def interrupt(_signum: int, _frame: object) -> None:
        raise _Interrupted()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)  # as RQ's death penalty does
    try:
        with pytest.raises(_Interrupted):
            embedder.embed(["one", "two", "three"])
        left = embedder._loop.run(_other_tasks())  # noqa: SLF001 - the loop itself is checked
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        embedder.close()

    assert left == 0
    assert len(embedding_server.requests) == 2  # the third never started


async def _other_tasks() -> int:
    return len(asyncio.all_tasks()) - 1
