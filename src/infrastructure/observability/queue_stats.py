"""Queue and worker counts read straight from RQ's Redis keys, without side effects.

RQ's own counters (`rq info`, `registry.count`) run registry cleanup, which moves expired jobs
and fires failure callbacks; a probe or a scrape must not do that. These reads only use
LLEN / ZCARD / SMEMBERS / HGET in one pipeline, on the keys `infrastructure.rq_internals` names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from redis import Redis

from infrastructure.rq_internals import (
    WORKER_STATE_FIELD,
    WORKERS_KEY,
    queue_key,
    registry_keys,
)

UNKNOWN_STATE = "unknown"


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Jobs per (queue, status) and live workers per state, as last read from Redis."""

    jobs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    workers: Mapping[str, int] = field(default_factory=dict)


def read_queue_stats(redis: Redis, queue_names: Iterable[str]) -> QueueStats:
    """Count jobs in each queue and registry, and registered workers by state.

    Two pipelined round trips. Worker keys whose hash has expired (a worker that died without
    deregistering) are not counted. Redis errors propagate (`redis.RedisError`).
    """
    return QueueStats(jobs=_read_jobs(redis, list(queue_names)), workers=_read_workers(redis))


def _read_jobs(redis: Redis, queues: list[str]) -> dict[tuple[str, str], int]:
    pipeline = redis.pipeline(transaction=False)
    labels: list[tuple[str, str]] = []
    for queue in queues:
        pipeline.llen(queue_key(queue))
        labels.append((queue, "queued"))
        for status, key in registry_keys(queue).items():
            pipeline.zcard(key)
            labels.append((queue, status))
    return {label: int(count) for label, count in zip(labels, pipeline.execute(), strict=True)}


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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
