"""Connecting to Redis, and reading queue figures without side effects."""

from __future__ import annotations

from dataclasses import dataclass

from redis import ConnectionPool, Redis
from redis.exceptions import RedisError
from rq.queue import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from application.errors import DependencyUnavailable

#: The serializer on both sides of the queue: JSON, so writing to Redis never means running code.
SERIALIZER = JSONSerializer


def connect(redis_url: str, *, socket_timeout: float | None = 10.0) -> Redis:
    """A client for `redis_url` (`redis://`, `rediss://` or `unix://`); connects lazily."""
    return Redis.from_url(
        redis_url,
        socket_connect_timeout=5.0,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )


def ping(connection: Redis, timeout_seconds: float) -> None:
    """Raise `DependencyUnavailable` unless Redis answers PING within `timeout_seconds`."""
    pool = connection.connection_pool
    probe = Redis(
        connection_pool=ConnectionPool(
            connection_class=pool.connection_class,
            **{
                **pool.connection_kwargs,
                "socket_timeout": timeout_seconds,
                "socket_connect_timeout": timeout_seconds,
                "retry": None,
            },
        )
    )
    try:
        probe.ping()
    except (RedisError, OSError) as e:
        raise DependencyUnavailable(f"Redis did not answer: {e}") from e
    finally:
        probe.close()


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """How many jobs wait, run, failed or are scheduled on one queue."""

    queue: str
    queued: int
    started: int
    failed: int
    scheduled: int


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """How many registered workers are busy, idle or otherwise."""

    busy: int
    idle: int
    other: int

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.other


def queue_figures(connection: Redis, queue_name: str) -> QueueFigures:
    """Counts read with plain reads (LLEN, ZCARD): unlike `rq info` or `registry.count`, this
    runs no registry cleanup. Raises `DependencyUnavailable` when Redis cannot be reached."""
    keys = [
        registry(queue_name, connection=connection).key
        for registry in (StartedJobRegistry, FailedJobRegistry, ScheduledJobRegistry)
    ]
    try:
        with connection.pipeline(transaction=False) as pipe:
            pipe.llen(Queue(queue_name, connection=connection).key)
            for key in keys:
                pipe.zcard(key)
            queued, started, failed, scheduled = pipe.execute()
    except (RedisError, OSError) as e:
        raise DependencyUnavailable(f"Redis did not answer: {e}") from e
    return QueueFigures(queue_name, queued, started, failed, scheduled)


def worker_figures(connection: Redis, queue_names: tuple[str, ...] = ()) -> WorkerFigures:
    """Registered workers by state, read without cleanup (workers whose key expired are skipped).

    With `queue_names`, only workers listening on one of those queues count.
    """
    try:
        keys = [k.decode() for k in connection.smembers("rq:workers")]
        with connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, "state", "queues")
            rows = pipe.execute()
    except (RedisError, OSError) as e:
        raise DependencyUnavailable(f"Redis did not answer: {e}") from e
    states = [_state(row, queue_names) for row in rows]
    return WorkerFigures(
        busy=states.count("busy"),
        idle=states.count("idle"),
        other=sum(1 for s in states if s not in ("busy", "idle", None)),
    )


def _state(row: list[bytes | None], queue_names: tuple[str, ...]) -> str | None:
    state, queues = row
    if state is None:
        return None
    listened = set((queues or b"").decode().split(","))
    if queue_names and not listened.intersection(queue_names):
        return None
    return state.decode()
