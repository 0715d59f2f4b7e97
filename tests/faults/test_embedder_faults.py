"""An OpenAI-compatible embedder that throttles, falls over or refuses us, behind a real worker.

Throttling (429 with Retry-After) is waited out without counting a retry or an attempt, and
outages (503) are retried, honouring Retry-After, until every document is ready; a refusal
(401) fails every document once, with no retry anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from rq.job import Job, JobStatus

from infrastructure.observability import read_queue_stats
from infrastructure.queue import SERIALIZER
from tests.faults.harness import FaultWorld, small_document, wait_until
from tests.fixtures.embedding_server import EmbeddingServer, ReceivedRequest, Reply
from tests.fixtures.worker import WorkerProcess

DOCUMENTS = 10
THROTTLED = Reply(status=429, headers={"Retry-After": "1"}, body={"error": "slow down"})
UNAVAILABLE = Reply(status=503, body={"error": "overloaded"})
UNAUTHORISED = Reply(status=401, body={"error": {"message": "Invalid API key"}})
#: The shortest wait the embedder picks after an answer without Retry-After (half its first
#: exponential step of 0.5 s: the jitter draws from the upper half of each step).
SHORTEST_BACKOFF = 0.25


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(world: FaultWorld) -> Iterator[None]:
    yield
    world.stop_workers()


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request as the server saw it: when it came, and what it was answered."""

    at: float
    status: int
    retry_after: float | None
    texts: tuple[str, ...]


class RecordingEmbeddingServer(EmbeddingServer):
    """The scriptable embedding server, also keeping each request's arrival time and answer."""

    def __init__(self, dimension: int) -> None:
        super().__init__(dimension)
        self.arrivals: list[Arrival] = []

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        at = time.monotonic()
        status, headers, data = super().answer(request)
        retry_after = headers.get("Retry-After")
        texts = tuple(request.body.get("input", ()))
        self.arrivals.append(
            Arrival(at, status, float(retry_after) if retry_after else None, texts)
        )
        return status, headers, data


def start_openai_worker(
    world: FaultWorld, server: EmbeddingServer, **overrides: str
) -> WorkerProcess:
    return world.start_worker(
        EMBEDDER="openai",
        EMBEDDING_BASE_URL=server.url,
        EMBEDDING_MODEL="test-embedder",
        **overrides,
    )


def submit_documents(world: FaultWorld) -> list[UUID]:
    workspace = uuid4()
    return [world.submit(workspace, *small_document(i)).id for i in range(DOCUMENTS)]


def recording_server() -> RecordingEmbeddingServer:
    server = RecordingEmbeddingServer(dimension=32)
    server.start()
    return server


def test_throttling_and_outages_are_waited_out_honouring_retry_after(world: FaultWorld) -> None:
    """Six 429s cost no retry and no attempt; an outage longer than one attempt's retries (eight
    503s against five retries) costs one attempt, and the document ends ready on the next."""
    server = recording_server()
    server.script(*[THROTTLED] * 6, *[UNAVAILABLE] * 8)
    try:
        ids = submit_documents(world)
        worker = start_openai_worker(world, server, RETRY_BACKOFF="1")
        rows = world.wait_for_final(ids, timeout=120)
    finally:
        server.stop()

    assert {r.status for r in rows.values()} == {"ready"}, [r for r in rows.values()]
    assert sorted(r.attempts for r in rows.values()) == [1] * (DOCUMENTS - 1) + [2]
    statuses = [arrival.status for arrival in server.arrivals]
    assert statuses == [429] * 6 + [503] * 8 + [200] * DOCUMENTS
    _assert_waits_honoured(server.arrivals)
    retried = [a.texts for a in server.arrivals if a.status != 200]
    # one attempt took the six 429s and then six 503s (its five retries) before it failed
    assert len(set(retried[:12])) == 1, "the throttled batch kept its attempt and retries"
    print(f"\nembedder retry gaps (status, seconds to the next try): {_gaps(server.arrivals)}")
    assert worker.process.poll() is None


def test_a_refusing_embedder_fails_every_document_once_without_retries(
    world: FaultWorld,
) -> None:
    server = recording_server()
    server.script(*[UNAUTHORISED] * DOCUMENTS)
    try:
        ids = submit_documents(world)
        worker = start_openai_worker(world, server, RETRY_BACKOFF="1")
        rows = world.wait_for_final(ids, timeout=60)
        jobs = wait_until(lambda: _failed_jobs_for(world, ids), 30, "every job to fail")
    finally:
        server.stop()

    assert {(r.status, r.error_code, r.attempts) for r in rows.values()} == {
        ("failed", "embedder_rejected", 1)
    }
    assert all("HTTP 401: Invalid API key" in str(r.error_message) for r in rows.values())
    assert len(server.arrivals) == DOCUMENTS
    assert len({arrival.texts for arrival in server.arrivals}) == DOCUMENTS
    for job in jobs.values():
        assert job.get_status() == JobStatus.FAILED
        assert job.retries_left == 0
        assert len(job.results()) == 1
    queue = world.settings.queue_name
    stats = read_queue_stats(world.client(), [queue]).jobs
    assert (stats[(queue, "scheduled")], stats[(queue, "queued")]) == (0, 0)
    assert worker.process.poll() is None


def _assert_waits_honoured(arrivals: list[Arrival]) -> None:
    """Each retry of a batch came no sooner than the answer before it said (Retry-After), or
    than the shortest backoff when it said nothing. Lower bounds, measured on the server.

    Only retries of the same batch are held to it: the hint lives in the work horse that got it,
    so the next job's first request does not wait for it."""
    last: dict[tuple[str, ...], Arrival] = {}
    for arrival in arrivals:
        answered = last.get(arrival.texts)
        last[arrival.texts] = arrival
        if answered is None:
            continue
        gap = arrival.at - answered.at
        wanted = answered.retry_after if answered.retry_after is not None else SHORTEST_BACKOFF
        assert gap >= wanted, f"{gap:.3f}s after HTTP {answered.status}, wanted {wanted}s"


def _gaps(arrivals: list[Arrival]) -> list[tuple[int, float]]:
    following: dict[tuple[str, ...], float] = {}
    gaps = []
    for arrival in reversed(arrivals):
        if arrival.texts in following:
            gaps.append((arrival.status, round(following[arrival.texts] - arrival.at, 2)))
        following[arrival.texts] = arrival.at
    return gaps[::-1]


def _failed_jobs_for(world: FaultWorld, ids: list[UUID]) -> dict[str, Job] | None:
    """The failed RQ jobs of these documents by document id, once there is one for each
    (read without RQ's registry cleanup)."""
    redis = world.client()
    key = f"rq:failed:{world.settings.queue_name}"
    documents = {str(i) for i in ids}
    found: dict[str, Job] = {}
    for job_id in redis.zrange(key, 0, -1):
        job = Job.fetch(job_id.decode(), connection=redis, serializer=SERIALIZER)
        if job.args and job.args[0] in documents:
            found[job.args[0]] = job
    return found if len(found) == len(ids) else None
