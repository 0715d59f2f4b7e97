"""A Redis that answers PING but refuses every write (out of memory under `noeviction`, a
read-only replica, too few replicas to write to): the worker's loop keeps ending, and it starts
it again with growing pauses, saying so once instead of once per restart; /readyz reports Redis
not ready while writes are refused, and ready again once they are accepted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis import Redis

from tests.faults.harness import FaultWorld, http_address, http_get, wait_until

#: Restarts of the work loop watched: enough for the pauses to grow past the first ones.
RESTARTS = 4
ENDED = "the work loop ended unexpectedly"


@pytest.fixture
def refusing_writes(world: FaultWorld) -> Iterator[Redis]:
    """`min-replicas-to-write 1` with no replica: every write fails with NOREPLICAS."""
    client = world.client()
    client.config_set("min-replicas-to-write", 1)
    yield client
    client.config_set("min-replicas-to-write", 0)
    world.stop_workers()
    client.close()


def _readiness(address: str) -> tuple[int, dict[str, object]]:
    status, body = http_get(f"{address}/readyz")
    return status, json.loads(body)


@pytest.mark.timeout(180)
def test_a_redis_refusing_writes_is_retried_with_growing_pauses_and_reported_not_ready(
    world: FaultWorld, refusing_writes: Redis
) -> None:
    client = refusing_writes
    client.config_resetstat()
    worker = world.start_worker(RECOVERY_INTERVAL="1")
    address = http_address(worker)

    wait_until(lambda: _loops_started(client) >= RESTARTS + 1, 120, f"{RESTARTS} restarts")
    status, payload = _readiness(address)

    lines = list(worker.lines)
    restarts = _loops_started(client) - 1
    assert sum(ENDED in line for line in lines) == 1, "\n".join(lines[-80:])
    assert len(lines) <= 40 * restarts, f"{len(lines)} lines for {restarts} restarts"
    assert (status, payload["redis"], payload["db"]) == (503, "disconnected", "connected"), payload

    refusing_writes.config_set("min-replicas-to-write", 0)
    wait_until(lambda: _readiness(address)[0] == 200, 60, "/readyz to be ready again")


def _loops_started(client: Redis) -> int:
    """Work loops started since the statistics were reset: each one begins by registering its
    worker in a transaction, which Redis aborts (EXECABORT) while it refuses writes."""
    stats = client.info("errorstats")
    return int(stats.get("errorstat_EXECABORT", {}).get("count", 0))
