"""Remote embedder at the provider's limit: two workers (EMBEDDER=openai, WORKER_MODE=inline)
against a loopback OpenAI-compatible server with a hosted provider's latency and rate limits.

The server (tests/fixtures/embedding_server.py) takes `LATENCY` seconds per request and allows
`REQUESTS_PER_MINUTE` requests and `TOKENS_PER_MINUTE` tokens (cl100k_base, as OpenAI counts),
answering 429 with Retry-After past them. Rows:

- limit: the fleet's chunks/s once warm, vs what the server's limits allow for these chunks;
- 429s: the share of requests answered 429 once warm;
- vs today: the same fleet with one batch of 16 at a time and no shared limit;
- outage: the server answers 503 for `OUTAGE_SECONDS` mid-run; every document must end ready;
- connections: TCP connections the server accepted while one worker of the default mode ran
  `CONNECTION_JOBS` small documents, against one worker with WORKER_MODE=fork.

The per-minute budgets are sliding-window counters over clock minutes: a fresh one lets a whole
minute's tokens through at once, and the minute after still carries part of that burst, so
"warm" starts with the second full clock minute after the first request, from when the budget
frees at its steady rate.
Chunks are short (`CHUNK_MAX_TOKENS=16`) so the token budget allows far more chunks per second
than one batch of 16 per 300 ms: with 256-token chunks the same budget allows about 65/s.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from tests.fixtures.embedding_server import EmbeddingServer, Provider, ReceivedRequest

from bench import database
from bench.context import WORKSPACE, Blob, Context, new_queue
from bench.corpus import CorpusFile
from bench.fleet import fleet, our_worker_command, wait_for
from bench.paths import OUT
from bench.stats import Outcome, Target, ratio

MODEL = "text-embedding-3-small"
LATENCY = 0.3
REQUESTS_PER_MINUTE = 3000
TOKENS_PER_MINUTE = 1_000_000
WORKERS = 2
#: Today's embedder never reaches the limits: its measurement starts this long after its first
#: request.
TODAY_WARM_SECONDS = 5.0
OUTAGE_SECONDS = 30.0
#: Per size: seconds measured once warm, seconds today's embedder is measured, documents of
#: the outage run.
SIZES = {"quick": (60.0, 20.0, 12), "full": (180.0, 60.0, 40)}
CHUNKS_PER_DOCUMENT = 6000
OUTAGE_CHUNKS_PER_DOCUMENT = 1500
CONNECTION_JOBS = 200
#: EMBEDDING_CONCURRENCY of the connection row: the client's pool holds this many connections.
CONNECTION_POOL = 4
_DIMENSION = 384


@dataclass(frozen=True)
class Arrival:
    at: float
    status: int
    inputs: int
    tokens: int


class MeasuredServer(EmbeddingServer):
    """The provider, also logging each request: when, how it was answered, what it carried."""

    def __init__(self) -> None:
        from infrastructure.embeddings.tiktoken_counter import token_counter_for_model

        self.counter = token_counter_for_model(MODEL)
        provider = Provider(
            latency=LATENCY,
            requests_per_minute=REQUESTS_PER_MINUTE,
            tokens_per_minute=TOKENS_PER_MINUTE,
            token_counter=self.counter,
            same_vector=True,
        )
        super().__init__(_DIMENSION, provider)
        self.arrivals: list[Arrival] = []

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        status, headers, data = super().answer(request)
        texts = request.body.get("input") or []
        tokens = sum(self.counter.count(t) for t in texts)
        self.arrivals.append(Arrival(time.time(), status, len(texts), tokens))
        return status, headers, data

    def accepted_since(self, start: float, stop: float) -> tuple[int, int, int, int]:
        """Inputs and tokens answered 200, and requests and 429s, between `start` and `stop`."""
        window = [a for a in list(self.arrivals) if start <= a.at < stop]
        ok = [a for a in window if a.status == 200]
        return (
            sum(a.inputs for a in ok),
            sum(a.tokens for a in ok),
            len(window),
            sum(1 for a in window if a.status == 429),
        )

    def first_arrival(self) -> float | None:
        return self.arrivals[0].at if self.arrivals else None


@dataclass
class RemoteOutcomes:
    limit: Outcome
    rejections: Outcome
    today: Outcome
    outage: Outcome
    connections: Outcome
    notes: list[str] = field(default_factory=list)

    def all(self) -> list[Outcome]:
        return [self.limit, self.rejections, self.today, self.outage, self.connections]


def new_outcomes() -> RemoteOutcomes:
    limit = Outcome(
        "remote-limit",
        f"Remote embedder, {WORKERS} workers: chunks/s once warm vs what the provider's limits "
        f"allow ({REQUESTS_PER_MINUTE:,} requests/min, {TOKENS_PER_MINUTE:,} tokens/min, "
        f"{LATENCY * 1000:.0f} ms per request)",
        Target(">=", 0.9, "×"),
    )
    limit.add_series("ours (chunks/s accepted)", "chunks/s")
    limit.add_series("the limits allow", "chunks/s")
    rejections = Outcome(
        "remote-429s",
        "Remote embedder: share of requests answered 429 once warm",
        Target("<=", 0.01, ""),
    )
    rejections.add_series("429s / requests", "")
    today = Outcome(
        "remote-vs-today",
        "Remote embedder: chunks/s vs one batch of 16 at a time, no shared limit",
        Target(">=", 10.0, "×"),
    )
    today.add_series("ours", "chunks/s")
    today.add_series("batch 16, concurrency 1", "chunks/s")
    outage = Outcome(
        "remote-outage",
        f"Remote embedder: documents ready after a {OUTAGE_SECONDS:.0f} s provider outage mid-run",
        Target(">=", 1.0, "×"),
    )
    outage.add_series("ready / documents", "")
    connections = Outcome(
        "remote-connections",
        f"Remote embedder: TCP connections opened for {CONNECTION_JOBS} jobs, one worker, "
        f"default mode (the client's pool holds {CONNECTION_POOL}) vs WORKER_MODE=fork",
        Target("<=", CONNECTION_POOL, ""),
    )
    connections.add_series("default mode", "")
    connections.add_series("WORKER_MODE=fork", "")
    return RemoteOutcomes(limit, rejections, today, outage, connections)


def measure(context: Context, outcomes: RemoteOutcomes, size: str) -> None:
    measured, today_seconds, outage_documents = SIZES[size]
    blobs = _documents(context, "remote", 60 if size == "quick" else 160, CHUNKS_PER_DOCUMENT)
    ours, rejected = _throughput(context, blobs, measured, limited=True)
    today, _ = _throughput(context, blobs, today_seconds, limited=False)
    outcomes.limit.series[0].add(ours.chunks_per_second)
    outcomes.limit.series[1].add(ours.allowed_chunks_per_second)
    outcomes.limit.value = ratio(ours.chunks_per_second, ours.allowed_chunks_per_second)
    outcomes.rejections.series[0].add(rejected)
    outcomes.rejections.value = rejected
    outcomes.today.series[0].add(ours.chunks_per_second)
    outcomes.today.series[1].add(today.chunks_per_second)
    outcomes.today.value = ratio(ours.chunks_per_second, today.chunks_per_second)
    outcomes.limit.notes.append(
        f"{ours.tokens_per_chunk:.1f} tokens per chunk (cl100k_base); measured over "
        f"{measured:.0f} s from the second full clock minute after the first request; before "
        f"the budget bound, the fleet took {ours.burst_chunks_per_second:,.0f} chunks/s"
    )
    outage_blobs = _documents(context, "outage", outage_documents, OUTAGE_CHUNKS_PER_DOCUMENT)
    ready, total, seconds = _outage(context, outage_blobs)
    outcomes.outage.series[0].add(ready / total)
    outcomes.outage.value = ready / total
    outcomes.outage.notes.append(
        f"{ready} of {total} documents ready, {seconds:.0f} s from enqueue to the last one"
    )
    small = _documents(context, "connections", CONNECTION_JOBS, 3)
    default = _connections(context, small, mode=None)
    forked = _connections(context, small, mode="fork")
    outcomes.connections.series[0].add(default)
    outcomes.connections.series[1].add(forked)
    outcomes.connections.value = default


def _connections(context: Context, blobs: list[Blob], *, mode: str | None) -> int:
    """TCP connections the server accepted while one worker (`mode`, else the default) ran a
    job for every blob."""
    server = MeasuredServer()
    settings = _embedder_settings(server) | {"EMBEDDING_CONCURRENCY": str(CONNECTION_POOL)}
    del settings["WORKER_MODE"]
    if mode is not None:
        settings["WORKER_MODE"] = mode
    with _serving(server), _running(context, blobs, settings, workers=1) as finished:
        wait_for(lambda: finished() >= len(blobs), 600, interval=0.2)
    return server.connections


@dataclass(frozen=True)
class Throughput:
    chunks_per_second: float
    tokens_per_chunk: float
    #: Chunks/s in the first 15 s, while a fresh budget still held a minute's worth: what the
    #: fleet can take when the limit does not bind.
    burst_chunks_per_second: float

    @property
    def allowed_chunks_per_second(self) -> float:
        by_tokens = TOKENS_PER_MINUTE / 60 / self.tokens_per_chunk
        by_requests = REQUESTS_PER_MINUTE / 60 * 2048
        return min(by_tokens, by_requests)


def _throughput(
    context: Context, blobs: list[Blob], seconds: float, *, limited: bool
) -> tuple[Throughput, float]:
    """Chunks/s the fleet had accepted over `seconds` (after the warm-up when `limited`), and
    the share of requests answered 429 meanwhile."""
    server = MeasuredServer()
    settings = _embedder_settings(server)
    if limited:
        settings |= {
            "EMBEDDING_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE),
            "EMBEDDING_TOKENS_PER_MINUTE": str(TOKENS_PER_MINUTE),
        }
    else:
        settings |= {"EMBEDDING_REQUEST_MAX_INPUTS": "16", "EMBEDDING_CONCURRENCY": "1"}
    with _serving(server), _running(context, blobs, settings):
        wait_for(lambda: server.first_arrival() is not None, 300, interval=0.1)
        first = server.first_arrival() or time.time()
        start = _steady_from(first) if limited else first + TODAY_WARM_SECONDS
        wait_for(lambda: time.time() >= start + seconds, start - first + seconds + 60, interval=0.5)
    inputs, tokens, requests, rejected = server.accepted_since(start, start + seconds)
    burst, _, _, _ = server.accepted_since(first, first + 15)
    per_chunk = tokens / inputs if inputs else float("nan")
    throughput = Throughput(inputs / seconds, per_chunk, burst / 15)
    return throughput, rejected / requests if requests else 0.0


def _steady_from(first: float) -> float:
    """The start of the second full clock minute after `first` (seconds since the epoch)."""
    return (first // 60 + 2) * 60


def _outage(context: Context, blobs: list[Blob]) -> tuple[int, int, float]:
    """Documents ready, documents, and seconds to the last one, with an outage mid-run."""
    server = MeasuredServer()
    settings = _embedder_settings(server) | {
        "EMBEDDING_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE),
        "EMBEDDING_TOKENS_PER_MINUTE": str(TOKENS_PER_MINUTE),
        "RETRY_BACKOFF": "5,10,20",
    }
    with _serving(server), _running(context, blobs, settings) as finished:
        started = time.perf_counter()
        wait_for(lambda: server.first_arrival() is not None, 300, interval=0.1)
        time.sleep(3.0)  # the outage begins mid-run, not before the first request
        server.down.set()
        timer = threading.Timer(OUTAGE_SECONDS, server.down.clear)
        timer.start()
        try:
            done = wait_for(lambda: finished() >= len(blobs), 900, interval=0.5)
        finally:
            timer.cancel()
            server.down.clear()
    connection = database.connect(context.services.plain_dsn())
    ready = database.outcomes(connection, WORKSPACE)["by_outcome"].get("ready", 0)
    connection.close()
    return ready, len(blobs), done - started


def _embedder_settings(server: EmbeddingServer) -> dict[str, str]:
    return {
        "EMBEDDER": "openai",
        "EMBEDDING_BASE_URL": server.url,
        "EMBEDDING_MODEL": MODEL,
        "EMBEDDING_DIMENSION": str(_DIMENSION),
        "WORKER_MODE": "inline",
        "CHUNK_MAX_TOKENS": "16",
        "CHUNK_OVERLAP_TOKENS": "0",
        "EMBED_CONTEXT": "false",
    }


@contextmanager
def _serving(server: EmbeddingServer) -> Iterator[None]:
    server.start()
    try:
        yield
    finally:
        server.stop()


@contextmanager
def _running(
    context: Context, blobs: list[Blob], settings: dict[str, str], *, workers: int = WORKERS
) -> Iterator[Any]:
    """`workers` workers with `settings` on a fresh queue holding a job for every blob; yields
    a function counting the documents finished."""
    from bootstrap import job_policy
    from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine
    from infrastructure.queue import RqJobQueue

    queue = new_queue("remote")
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    engine = make_engine(context.services.database_url)
    ids = database.register_documents(SqlAlchemyUnitOfWorkFactory(engine), WORKSPACE, blobs)
    engine.dispose()
    redis = Redis.from_url(context.services.redis_url)
    jobs = RqJobQueue(redis, queue, job_policy(context.settings(queue)), consumed_queues=[queue])
    env = context.worker_env(queue, **settings)
    try:
        with fleet(our_worker_command(), workers, env, context.services.redis_url, queue):
            for document_id in ids:
                jobs.enqueue_processing(document_id, WORKSPACE)
            yield lambda: database.finished_documents(connection, WORKSPACE)
    finally:
        connection.close()


def _documents(context: Context, label: str, count: int, chunks: int) -> list[Blob]:
    """`count` text files of `chunks` short paragraphs each, every paragraph different (the
    embedding cache would reuse a repeated one), uploaded once."""
    from infrastructure.storage.local import LocalBlobStorage

    folder = OUT / "remote-documents"
    folder.mkdir(parents=True, exist_ok=True)
    storage = LocalBlobStorage(context.storage_root)
    blobs = []
    run = uuid.uuid4().hex[:6]
    for n in range(count):
        path = folder / f"{label}-{n:04d}.txt"
        _write_document(path, f"{run}{n}", chunks)
        file = CorpusFile(path, "txt", path.stat().st_size)
        blobs.append(context.upload(storage, file, f"remote-{label}-{run}"))
    return blobs


def _write_document(path: Path, tag: str, chunks: int) -> None:
    lines = (
        f"Paragraph {i} of {tag}: the ledger moved."
        for i in range(chunks)
    )
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
