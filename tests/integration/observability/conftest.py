from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from infrastructure.local.redis import RedisServer


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, keep_data=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_process: RedisServer) -> Iterator[Redis]:
    client = redis_process.client()
    yield client
    client.close()
