"""Ten thousand jobs through one worker: its memory stays flat and Redis keeps nothing for ever.

The jobs are the cheapest real ones: documents already processed, whose file has not changed,
so each job loads its row, reads and hashes the file and returns `unchanged`. Run with
`python -m pytest -m soak tests/soak -s` (the default run leaves it out).

The drain has a budget (SOAK_SECONDS, default 360 s): on a machine where the forking worker
cannot run SOAK_JOBS (default 10,000) in it, the jobs still queued at the end are dropped and
the figures are taken over the jobs that ran, which must be at least MIN_JOBS.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from uuid import UUID, uuid4

import psutil
import pytest
from redis import Redis
from rq import Queue

from infrastructure.observability import read_queue_stats
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from tests.faults.harness import FaultWorld, small_document, wait_until
from tests.fixtures.worker import WorkerProcess

pytestmark = [pytest.mark.soak, pytest.mark.timeout(600)]

DOCUMENTS = 200
JOBS = int(os.environ.get("SOAK_JOBS", "10000"))
DRAIN_SECONDS = float(os.environ.get("SOAK_SECONDS", "360"))
WARM_UP = 1_000
#: Fewer jobs than this after the warm-up would say nothing about growth.
MIN_JOBS = WARM_UP + 2_000
ENQUEUE_BATCH = 1_000
MAX_RSS_GROWTH = 0.10
#: A key pattern with more keys than this grows with the number of jobs.
PER_JOB = DOCUMENTS
_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class KeyPattern:
    """Redis keys of one shape (ids replaced by `*`), how many there are, how many never expire."""

    pattern: str
    count: int
    without_ttl: int


def test_ten_thousand_jobs_leave_memory_flat_and_redis_bounded(world: FaultWorld) -> None:
    worker = world.start_worker()
    documents = _process_once(world)
    queue = world.settings.queue_name
    redis = world.client()
    baseline = _finished(redis, queue)

    started = time.monotonic()
    _enqueue_cycling(redis, queue, world, documents)
    enqueued = time.monotonic() - started
    deadline = started + DRAIN_SECONDS
    _drain(redis, queue, baseline + WARM_UP, deadline)
    warm = time.monotonic()
    rss_start = _rss(worker)
    ran = _drain(redis, queue, baseline + JOBS, deadline) - baseline
    ended = time.monotonic()
    dropped = _drop_the_rest(redis, queue)
    rss_end = _rss(worker)

    patterns = _key_patterns(redis)
    stats = read_queue_stats(redis, [queue]).jobs
    growth = (rss_end - rss_start) / rss_start
    print(
        f"\nsoak: {ran} of {JOBS} jobs in {ended - started:.0f}s ({dropped} dropped at the "
        f"budget of {DRAIN_SECONDS:.0f}s); enqueued at {JOBS / enqueued:.0f}/s; drained at "
        f"{ran / (ended - started):.1f} jobs/s overall, {(ran - WARM_UP) / (ended - warm):.1f} "
        f"jobs/s after warm-up; worker RSS {rss_start / 2**20:.1f} MiB after {WARM_UP} jobs, "
        f"{rss_end / 2**20:.1f} MiB at the end ({growth:+.1%})"
    )
    used = int(redis.info("memory")["used_memory"])
    print(
        f"soak: registries {dict((s, n) for (_, s), n in stats.items())}; Redis holds "
        f"{used / 2**20:.1f} MiB, {used / stats[(queue, 'finished')] / 1024:.1f} KiB per "
        f"finished job kept for RESULT_TTL ({world.settings.result_ttl}s)"
    )
    for found in patterns:
        print(f"soak: {found.count:>6} keys {found.pattern} ({found.without_ttl} without TTL)")

    assert worker.process.poll() is None
    assert ran >= MIN_JOBS, f"only {ran} jobs ran in {DRAIN_SECONDS}s"
    assert growth < MAX_RSS_GROWTH
    assert stats[(queue, "failed")] == 0 and stats[(queue, "queued")] == 0
    _assert_registry_expires(redis, queue, world.settings.result_ttl)
    _assert_nothing_kept_for_ever(patterns)
    rows = world.rows(documents)
    assert {(r.status, r.attempts) for r in rows.values()} == {("ready", 1)}


def _process_once(world: FaultWorld) -> dict[UUID, UUID]:
    """Submit and process the documents the soak cycles over; their workspace by id."""
    workspace = uuid4()
    ids = [world.submit(workspace, *small_document(i)).id for i in range(DOCUMENTS)]
    rows = world.wait_for_final(ids, timeout=120)
    assert {r.status for r in rows.values()} == {"ready"}
    return dict.fromkeys(ids, workspace)


def _enqueue_cycling(
    redis: Redis, queue_name: str, world: FaultWorld, documents: dict[UUID, UUID]
) -> None:
    """JOBS jobs over the documents in turn, as the worker's own enqueuer would make them,
    ENQUEUE_BATCH to a pipeline."""
    queue = Queue(queue_name, connection=redis, serializer=SERIALIZER)
    settings = world.settings
    pairs = list(documents.items())
    for start in range(0, JOBS, ENQUEUE_BATCH):
        batch = [pairs[n % len(pairs)] for n in range(start, min(start + ENQUEUE_BATCH, JOBS))]
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    PROCESS_DOCUMENT_JOB,
                    args=(str(document_id), str(workspace_id)),
                    timeout=settings.job_timeout,
                    result_ttl=settings.result_ttl,
                    failure_ttl=settings.failure_ttl,
                    description=f"process document {document_id}",
                )
                for document_id, workspace_id in batch
            ]
        )


def _finished(redis: Redis, queue: str) -> int:
    return read_queue_stats(redis, [queue]).jobs[(queue, "finished")]


def _drain(redis: Redis, queue: str, count: int, deadline: float) -> int:
    """Wait until `count` jobs have finished or the deadline has passed; the finished count."""
    wait_until(
        lambda: _finished(redis, queue) >= count or time.monotonic() >= deadline,
        deadline - time.monotonic() + 5,
        f"{count} finished jobs",
    )
    return _finished(redis, queue)


def _drop_the_rest(redis: Redis, queue_name: str) -> int:
    """Delete the jobs still queued (and their keys); wait for the one in hand; how many."""
    queue = Queue(queue_name, connection=redis, serializer=SERIALIZER)
    dropped = queue.empty()
    wait_until(
        lambda: read_queue_stats(redis, [queue_name]).jobs[(queue_name, "started")] == 0,
        30,
        "the last job to end",
    )
    return int(dropped)


def _rss(worker: WorkerProcess) -> int:
    """The worker parent's resident set (the process that lives as long as the worker)."""
    return int(psutil.Process(worker.process.pid).memory_info().rss)


def _key_patterns(redis: Redis) -> list[KeyPattern]:
    counts: Counter[str] = Counter()
    eternal: Counter[str] = Counter()
    keys = [key.decode() for key in redis.scan_iter(count=1_000)]
    pipeline = redis.pipeline(transaction=False)
    for key in keys:
        pipeline.ttl(key)
    for key, ttl in zip(keys, pipeline.execute(), strict=True):
        pattern = _ID.sub("*", key)
        counts[pattern] += 1
        eternal[pattern] += ttl == -1
    return [KeyPattern(p, n, eternal[p]) for p, n in counts.most_common()]


def _assert_nothing_kept_for_ever(patterns: list[KeyPattern]) -> None:
    """Every job key expires, and no key that exists once per job is kept for ever."""
    for found in patterns:
        if found.pattern.startswith("rq:job:") or found.count > PER_JOB:
            assert found.without_ttl == 0, found
    assert len(patterns) < 30, [p.pattern for p in patterns]


def _assert_registry_expires(redis: Redis, queue: str, result_ttl: int) -> None:
    """The finished registry is bounded by time: every entry is due out within result_ttl."""
    newest = redis.zrange(f"rq:finished:{queue}", -1, -1, withscores=True)
    assert newest and newest[0][1] <= time.time() + result_ttl + 5
