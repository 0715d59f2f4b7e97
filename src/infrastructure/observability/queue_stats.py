"""Queue and worker counts read straight from RQ's Redis keys, without side effects.

RQ's own counters (`rq info`, `registry.count`) run registry cleanup, which moves expired jobs
and fires failure callbacks; a probe or a scrape must not do that. These reads only use
LLEN / LINDEX / ZCARD / SMEMBERS / HGET in a few pipelines, on the keys
`infrastructure.rq_internals` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis

from infrastructure.rq_internals import (
    WORKER_STATE_FIELD,
    WORKERS_KEY,
    job_key,
    parse_timestamp,
    queue_key,
    registry_keys,
)

UNKNOWN_STATE = "unknown"


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Jobs per (queue, status), live workers per state, and when the job at the head of each
    non-empty queue (the next to be taken) was enqueued, as last read from Redis."""

    jobs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    workers: Mapping[str, int] = field(default_factory=dict)
    head_enqueued_at: Mapping[str, datetime] = field(default_factory=dict)


def read_queue_stats(redis: Redis, queue_names: Iterable[str]) -> QueueStats:
    """Count jobs in each queue and registry, and registered workers by state; read when the
    job at the head of each queue was enqueued.

    Four pipelined round trips at most. Worker keys whose hash has expired (a worker that died
    without deregistering), and head jobs whose hash is gone, are left out. Redis errors
    propagate (`redis.RedisError`).
    """
    jobs, heads = _read_jobs(redis, list(queue_names))
    return QueueStats(
        jobs=jobs, workers=_read_workers(redis), head_enqueued_at=_read_enqueued_at(redis, heads)
    )


def _read_jobs(
    redis: Redis, queues: list[str]
) -> tuple[dict[tuple[str, str], int], dict[str, str]]:
    """Counts per (queue, status), and the id of the job at the head of each non-empty queue."""
    pipeline = redis.pipeline(transaction=False)
    labels: list[tuple[str, str]] = []
    for queue in queues:
        pipeline.llen(queue_key(queue))
        labels.append((queue, "queued"))
        for status, key in registry_keys(queue).items():
            pipeline.zcard(key)
            labels.append((queue, status))
    for queue in queues:
        pipeline.lindex(queue_key(queue), 0)
    replies = pipeline.execute()
    counts = {label: int(count) for label, count in zip(labels, replies, strict=False)}
    head_ids = zip(queues, replies[len(labels) :], strict=True)
    return counts, {queue: text for queue, head in head_ids if (text := _text(head))}


def _read_enqueued_at(redis: Redis, head_ids: Mapping[str, str]) -> dict[str, datetime]:
    if not head_ids:
        return {}
    pipeline = redis.pipeline(transaction=False)
    for job_id in head_ids.values():
        pipeline.hget(job_key(job_id), "enqueued_at")
    stamps = zip(head_ids, pipeline.execute(), strict=True)
    return {queue: moment for queue, stamp in stamps if (moment := _moment(stamp))}


def _read_workers(redis: Redis) -> dict[str, int]:
    worker_keys = sorted(redis.smembers(WORKERS_KEY))
    pipeline = redis.pipeline(transaction=False)
    for key in worker_keys:
        pipeline.exists(key)
        pipeline.hget(key, WORKER_STATE_FIELD)
    replies = pipeline.execute()
    counts: dict[str, int] = {}
    for exists, state in zip(replies[::2], replies[1::2], strict=True):
        if exists:
            name = _text(state) or UNKNOWN_STATE
            counts[name] = counts.get(name, 0) + 1
    return counts


def _moment(stamp: bytes | str | None) -> datetime | None:
    """RQ's timestamp as an aware datetime; None when absent or written by something else."""
    text = _text(stamp)
    try:
        return parse_timestamp(text) if text else None
    except ValueError:
        return None


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
