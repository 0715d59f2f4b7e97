"""The soak runs in a world of its own: a fresh database and a private Redis (see tests.faults).

Its Redis syncs its append-only file once a second, Redis's own default, instead of after every
write as the fault suites' does (they restart it and must lose nothing): per-write fsync would
make the soak measure the disk.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.local.redis import RedisServer
from tests.faults.worlds import fresh_database, module_root, world

__all__ = ["fresh_database", "module_root", "restartable_redis", "world"]


@pytest.fixture(scope="module")
def restartable_redis(module_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(module_root / "redis", keep_data=True)
    server.start()
    server.client().config_set("appendfsync", "everysec")
    yield server
    server.stop()
