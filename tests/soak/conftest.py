"""The soak runs in a world of its own: a fresh database and a private Redis (see tests.faults).

Its Redis syncs its append-only file once a second, Redis's own default, instead of after every
write as the fault suites' does (they restart it and must lose nothing): per-write fsync would
make the soak measure the disk.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import RestartableRedis
from tests.faults.worlds import fresh_database, module_root, world

__all__ = ["fresh_database", "module_root", "restartable_redis", "world"]


@pytest.fixture(scope="module")
def restartable_redis(module_root: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(module_root / "redis")
    server.start()
    server.client().config_set("appendfsync", "everysec")
    yield server
    server.stop()
