"""Module-scoped worlds for the fault, hostile-input and security suites (see `harness`).

Each suite's conftest imports these fixtures; each test module gets its own database and Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infrastructure.db import migrations
from infrastructure.local.redis import RedisServer
from tests.faults.harness import DIMENSION, FaultWorld


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("world")


@pytest.fixture(scope="module")
def fresh_database(new_database_url: Callable[[], str]) -> Callable[[], str]:
    """Makes a new database on the session's server, migrated to head with 32-d vectors."""

    def make() -> str:
        url = new_database_url()
        migrations.upgrade(url, DIMENSION)
        return url

    return make


@pytest.fixture(scope="module")
def restartable_redis(module_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(module_root / "redis", keep_data=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(
    fresh_database: Callable[[], str], restartable_redis: RedisServer, module_root: Path
) -> Iterator[FaultWorld]:
    """A world on a database and a Redis of this module's own."""
    created = FaultWorld(
        database_url=fresh_database(), redis_url=restartable_redis.url, root=module_root
    )
    yield created
    created.close()
