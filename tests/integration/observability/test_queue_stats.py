"""Queue and worker counts read from a real Redis, without RQ's cleanup side effects."""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from infrastructure.local.redis import RedisServer
from infrastructure.observability import IngestionMetrics, QueueStats, read_queue_stats

JOB = "json.dumps"


def _queue(redis: Redis, name: str = "documents") -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def test_counts_queued_scheduled_and_deferred_jobs_per_queue(redis_client: Redis) -> None:
    documents, other = _queue(redis_client), _queue(redis_client, "other")
    first = documents.enqueue(JOB, [1])
    documents.enqueue(JOB, [2])
    documents.enqueue(JOB, [3], depends_on=first)
    documents.enqueue_in(timedelta(hours=1), JOB, [4])
    other.enqueue(JOB, [5])

    stats = read_queue_stats(redis_client, ["documents", "other", "empty"])

    assert stats.jobs[("documents", "queued")] == 2
    assert stats.jobs[("documents", "deferred")] == 1
    assert stats.jobs[("documents", "scheduled")] == 1
    assert stats.jobs[("other", "queued")] == 1
    assert stats.jobs[("empty", "queued")] == 0
    assert {status for _, status in stats.jobs} == {
        "queued",
        "started",
        "finished",
        "failed",
        "deferred",
        "scheduled",
        "canceled",
    }


def test_reading_does_not_clean_up_expired_started_entries(redis_client: Redis) -> None:
    expired = time.time() - 3600
    redis_client.zadd("rq:wip:documents", {"job-1:execution-1": expired})

    stats = read_queue_stats(redis_client, ["documents"])

    assert stats.jobs[("documents", "started")] == 1
    assert redis_client.zcard("rq:wip:documents") == 1
    assert redis_client.zcard("rq:failed:documents") == 0


def test_counts_registered_workers_by_state_and_skips_expired_ones(redis_client: Redis) -> None:
    queue = _queue(redis_client)
    idle, busy = (
        Worker([queue], connection=redis_client, serializer=JSONSerializer) for _ in range(2)
    )
    for worker in (idle, busy):
        worker.register_birth()
    idle.set_state("idle")
    busy.set_state("busy")
    redis_client.sadd("rq:workers", "rq:worker:gone-without-deregistering")

    stats = read_queue_stats(redis_client, ["documents"])

    assert stats.workers == {"idle": 1, "busy": 1}
    assert redis_client.scard("rq:workers") == 3


def test_rq_gauges_follow_redis_and_vanish_while_it_is_down(
    redis_process: RedisServer, redis_client: Redis
) -> None:
    _queue(redis_client).enqueue(JOB, [1])
    no_retries = Redis(port=redis_process.port, retry=Retry(NoBackoff(), 0))
    metrics = IngestionMetrics(queue_stats=lambda: read_queue_stats(no_retries, ["documents"]))

    up = _samples(metrics.render().decode())
    redis_process.stop()
    down = _samples(metrics.render().decode())

    assert up[("rq_jobs", (("queue", "documents"), ("status", "queued")))] == 1
    assert not [key for key in down if key[0] == "rq_jobs"]
    metrics.shutdown()


def test_empty_stats_mean_no_gauge_samples() -> None:
    metrics = IngestionMetrics(queue_stats=QueueStats)

    assert not [key for key in _samples(metrics.render().decode()) if key[0].startswith("rq_")]
    metrics.shutdown()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_reads_when_the_job_at_the_head_of_each_queue_was_enqueued(redis_client: Redis) -> None:
    documents = _queue(redis_client)
    first = documents.enqueue(JOB, [1])
    documents.enqueue(JOB, [2])
    redis_client.rpush("rq:queue:stale", "job-whose-hash-expired")

    stats = read_queue_stats(redis_client, ["documents", "stale", "empty"])

    assert first.enqueued_at is not None
    assert stats.head_enqueued_at == {"documents": first.enqueued_at}
