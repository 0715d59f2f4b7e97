"""Connecting to Redis, and checking that it answers."""

from __future__ import annotations

from redis import ConnectionPool, Redis
from redis.exceptions import RedisError
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
