"""Queue and worker counts read straight from RQ's Redis keys, without side effects.

RQ's own counters (`rq info`, `registry.count`) run registry cleanup, which moves expired jobs
and fires failure callbacks; a probe or a scrape must not do that. These reads only use
LLEN / ZCARD / SMEMBERS / HGET in one pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from redis import Redis

QUEUE_KEY = "rq:queue:{queue}"
REGISTRY_KEYS: Mapping[str, str] = {
    "started": "rq:wip:{queue}",
    "finished": "rq:finished:{queue}",
    "failed": "rq:failed:{queue}",
    "deferred": "rq:deferred:{queue}",
    "scheduled": "rq:scheduled:{queue}",
    "canceled": "rq:canceled:{queue}",
}
WORKERS_KEY = "rq:workers"
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
        pipeline.llen(QUEUE_KEY.format(queue=queue))
        labels.append((queue, "queued"))
        for status, template in REGISTRY_KEYS.items():
            pipeline.zcard(template.format(queue=queue))
            labels.append((queue, status))
    return {label: int(count) for label, count in zip(labels, pipeline.execute(), strict=True)}


def _read_workers(redis: Redis) -> dict[str, int]:
    worker_keys = sorted(redis.smembers(WORKERS_KEY))
    pipeline = redis.pipeline(transaction=False)
    for key in worker_keys:
        pipeline.exists(key)
        pipeline.hget(key, "state")
    replies = pipeline.execute()
    counts: dict[str, int] = {}
    for exists, state in zip(replies[::2], replies[1::2], strict=True):
        if exists:
            name = _text(state) or UNKNOWN_STATE
            counts[name] = counts.get(name, 0) + 1
    return counts


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
