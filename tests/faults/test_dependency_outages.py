"""Redis restarted and Postgres stopped mid-run: the worker rides both out and finishes every
document; /healthz stays 200 while /readyz says which dependency is down."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from infrastructure.db import migrations
from infrastructure.local.redis import RedisServer
from tests.faults.harness import (
    DIMENSION,
    DedicatedPostgres,
    FaultWorld,
    http_address,
    http_get,
    small_document,
    wait_until,
)

DOCUMENTS = 60
POSTGRES_DOWN_SECONDS = 15
#: Retries long enough to outlast the outage: 1+2+4+8+8 s of backoff.
OUTLASTING = {"RETRY_BACKOFF": "1,2,4,8", "MAX_ATTEMPTS": "8", "RECOVERY_INTERVAL": "1",
              "JOB_TIMEOUT": "5", "PROCESSING_LEASE": "6"}  # fmt: skip
#: Once Redis is back, a job the outage left taken but unfinished is waiting again within lease +
#: recovery interval + job timeout (12 s), and at worst all 60 documents are still to run (about
#: 5 s on an idle 2-core machine): three times that.
RIDE_OUT_SECONDS = 3 * (
    int(OUTLASTING["PROCESSING_LEASE"])
    + int(OUTLASTING["RECOVERY_INTERVAL"])
    + int(OUTLASTING["JOB_TIMEOUT"])
    + 5
)
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[DedicatedPostgres]:
    """A Postgres this module may stop (outside pytest's private temp root, for its user)."""
    root = Path(tempfile.mkdtemp(prefix="ingestion-fault-postgres-"))
    server = DedicatedPostgres(root / "data")
    migrations.upgrade(server.url, DIMENSION)
    yield server
    server.close()


@pytest.fixture(scope="module")
def outage_world(
    own_postgres: DedicatedPostgres, restartable_redis: RedisServer, module_root: Path
) -> Iterator[FaultWorld]:
    created = FaultWorld(
        database_url=own_postgres.url,
        redis_url=restartable_redis.url,
        root=module_root / "outage",
        environment=OUTLASTING,
    )
    yield created
    created.close()


def submit_batch(world: FaultWorld) -> list:
    workspace = uuid4()
    return [world.submit(workspace, *small_document(i)).id for i in range(DOCUMENTS)]


def test_a_redis_restart_with_its_data_kept_is_ridden_out(
    outage_world: FaultWorld, restartable_redis: RedisServer
) -> None:
    worker = outage_world.start_worker()
    worker.wait_until_consuming()
    ids = submit_batch(outage_world)
    wait_until(
        lambda: any(r.status == "ready" for r in outage_world.rows(ids).values()), 30, "work"
    )
    restartable_redis.stop()
    time.sleep(1)  # the outage itself: Redis stays down this long
    restartable_redis.start()
    wait_until(
        lambda: worker.process.poll() is not None or _all_ready(outage_world, ids),
        RIDE_OUT_SECONDS,
        "the run",
    )
    assert worker.process.poll() is None, "the worker exited instead of reconnecting"
    assert _all_ready(outage_world, ids)
    worker.kill_everything()


def test_a_postgres_outage_is_reported_retried_and_ridden_out(
    outage_world: FaultWorld, own_postgres: DedicatedPostgres
) -> None:
    worker = outage_world.start_worker()
    base = http_address(worker)
    worker.wait_until_consuming()
    ids = submit_batch(outage_world)
    wait_until(
        lambda: any(r.status == "ready" for r in outage_world.rows(ids).values()), 30, "work"
    )
    own_postgres.stop()
    stopped = time.monotonic()
    try:
        wait_until(lambda: _database_state(base) == "disconnected", 5, "/readyz to see it")
        FIGURES["readyz_seconds"] = time.monotonic() - stopped
        while time.monotonic() - stopped < POSTGRES_DOWN_SECONDS:
            assert http_get(f"{base}/healthz")[0] == 200
            assert http_get(f"{base}/readyz")[0] == 503
            time.sleep(0.5)
    finally:
        own_postgres.start()
    wait_until(lambda: _database_state(base) == "connected", 10, "/readyz to recover")
    rows = outage_world.wait_for_final(ids, timeout=120)
    assert {r.status for r in rows.values()} == {"ready"}, [r for r in rows.values()]
    assert max(r.attempts for r in rows.values()) >= 1
    assert worker.process.poll() is None
    print(f"\noutage figures: {FIGURES}")
    worker.kill_everything()


def _all_ready(world: FaultWorld, ids: list) -> bool:
    return {r.status for r in world.rows(ids).values()} == {"ready"}


def _database_state(base: str) -> str | None:
    status, body = http_get(f"{base}/readyz")
    try:
        return str(json.loads(body)["db"])
    except (ValueError, KeyError):
        return None
