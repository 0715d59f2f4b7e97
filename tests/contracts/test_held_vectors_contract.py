"""The `HeldVectors` contract: the Redis and in-memory stores both pass it."""

from __future__ import annotations

from uuid import uuid4

import pytest
from redis import Redis

from application.errors import DependencyUnavailable
from application.ports import HeldVectors
from infrastructure.held_vectors import RedisHeldVectors
from infrastructure.memory import InMemoryHeldVectors

MODEL = "openai-compatible/m:4"


class HeldVectorsContract:
    """Subclasses provide `adapter` and `unavailable_adapter`."""

    def test_held_vectors_are_found_again(self, adapter: HeldVectors) -> None:
        workspace = uuid4()
        adapter.hold(workspace, MODEL, {"h1": [0.5, 0.25, 0.0, 1.0], "h2": [1.0, 0.0, 0.0, 0.0]})

        found = adapter.lookup(workspace, MODEL, ["h1", "h2", "h3"])

        assert set(found) == {"h1", "h2"}
        assert list(found["h1"]) == pytest.approx([0.5, 0.25, 0.0, 1.0])

    def test_another_workspace_or_model_sees_nothing(self, adapter: HeldVectors) -> None:
        workspace = uuid4()
        adapter.hold(workspace, MODEL, {"h1": [1.0, 0.0, 0.0, 0.0]})

        assert adapter.lookup(uuid4(), MODEL, ["h1"]) == {}
        assert adapter.lookup(workspace, "other:4", ["h1"]) == {}

    def test_no_hashes_give_an_empty_result(self, adapter: HeldVectors) -> None:
        assert adapter.lookup(uuid4(), MODEL, []) == {}

    def test_an_unreachable_store_raises_dependency_unavailable(
        self, unavailable_adapter: HeldVectors
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            unavailable_adapter.hold(uuid4(), MODEL, {"h1": [1.0]})
        with pytest.raises(DependencyUnavailable):
            unavailable_adapter.lookup(uuid4(), MODEL, ["h1"])


class TestInMemoryHeldVectors(HeldVectorsContract):
    @pytest.fixture
    def adapter(self) -> HeldVectors:
        return InMemoryHeldVectors()

    @pytest.fixture
    def unavailable_adapter(self) -> HeldVectors:
        store = InMemoryHeldVectors()
        store.available = False
        return store


class TestRedisHeldVectors(HeldVectorsContract):
    @pytest.fixture
    def adapter(self, redis_connection: Redis) -> HeldVectors:
        return RedisHeldVectors(redis_connection, ttl_seconds=60)

    @pytest.fixture
    def unavailable_adapter(self) -> HeldVectors:
        unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        return RedisHeldVectors(unreachable, ttl_seconds=60)

    def test_held_vectors_expire(self, redis_connection: Redis) -> None:
        RedisHeldVectors(redis_connection, ttl_seconds=60).hold(uuid4(), MODEL, {"h": [1.0]})

        (key,) = redis_connection.keys("ingestion-worker:held-vector:*")
        assert 0 < redis_connection.ttl(key) <= 60
