"""Connecting to Redis, and checking that it answers and accepts writes."""

from __future__ import annotations

from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
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


def quick_client(connection: Redis, timeout_seconds: float) -> Redis:
    """A client on `connection`'s server that never retries and gives up after
    `timeout_seconds` to connect or to read: for probes and scrapes, which must answer fast
    while Redis is down. Connects lazily."""
    pool = connection.connection_pool
    return Redis(
        connection_pool=ConnectionPool(
            connection_class=pool.connection_class,
            **{
                **pool.connection_kwargs,
                "socket_timeout": timeout_seconds,
                "socket_connect_timeout": timeout_seconds,
                "retry": Retry(NoBackoff(), 0),
                "retry_on_error": [],
                "retry_on_timeout": False,
            },
        )
    )


def ping(connection: Redis, timeout_seconds: float) -> None:
    """Raise `DependencyUnavailable` unless Redis answers PING within `timeout_seconds`.

    Uses a fresh `quick_client`: one attempt, no retries."""
    probe = quick_client(connection, timeout_seconds)
    try:
        probe.ping()
    except (RedisError, OSError) as e:
        raise DependencyUnavailable(f"Redis did not answer: {e}") from e
    finally:
        probe.close()


#: The key the readiness probe writes, and how long it lives (milliseconds).
PROBE_KEY = "ingestion:readiness-probe"
PROBE_KEY_LIFETIME_MS = 10_000


def ping_and_write(connection: Redis, timeout_seconds: float) -> None:
    """Raise `DependencyUnavailable` unless Redis answers PING and accepts a write (a SET of a
    short-lived key) within `timeout_seconds`: a Redis out of memory under `noeviction`, a
    read-only replica or one short of replicas answers PING but refuses every job.

    Uses a fresh `quick_client`: one attempt, no retries."""
    probe = quick_client(connection, timeout_seconds)
    try:
        probe.ping()
        probe.set(PROBE_KEY, "1", px=PROBE_KEY_LIFETIME_MS)
    except (RedisError, OSError) as e:
        raise DependencyUnavailable(f"Redis did not accept a write: {e}") from e
    finally:
        probe.close()
