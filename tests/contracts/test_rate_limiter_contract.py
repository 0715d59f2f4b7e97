"""The `RateLimiter` contract: the Redis and in-memory limiters both pass it.

`pair` gives two limiters for one provider as two workers would hold them (two Redis clients;
two limiters on one memory store), so sharing is checked, not assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from limits.storage import MemoryStorage
from redis import Redis

from application.errors import DependencyUnavailable
from application.ports import RateLimiter
from infrastructure.rate_limits import (
    MAX_WAIT_SECONDS,
    Budgets,
    InMemoryRateLimiter,
    RedisRateLimiter,
    SharedPause,
)

Pair = Callable[[Budgets], tuple[RateLimiter, RateLimiter]]


class RateLimiterContract:
    """Subclasses provide the `pair` fixture."""

    def test_without_budgets_every_request_passes(self, pair: Pair) -> None:
        first, _ = pair(Budgets())
        assert all(first.try_acquire(10_000) == 0.0 for _ in range(50))

    def test_the_request_budget_is_shared_by_both_workers(self, pair: Pair) -> None:
        first, second = pair(Budgets(requests_per_minute=3))

        taken = [first.try_acquire(1), second.try_acquire(1), first.try_acquire(1)]
        refused = second.try_acquire(1)

        assert taken == [0.0, 0.0, 0.0]
        assert 0 < refused <= MAX_WAIT_SECONDS

    def test_the_token_budget_counts_tokens_not_requests(self, pair: Pair) -> None:
        first, second = pair(Budgets(tokens_per_minute=1000))

        assert first.try_acquire(600) == 0.0
        assert second.try_acquire(600) > 0  # 1,200 tokens would pass the minute's 1,000
        assert second.try_acquire(400) == 0.0  # a refusal took nothing

    def test_a_request_larger_than_the_budget_still_passes_alone(self, pair: Pair) -> None:
        first, second = pair(Budgets(tokens_per_minute=1000))

        assert first.try_acquire(5000) == 0.0
        assert second.try_acquire(1) > 0

    def test_a_refused_token_request_takes_no_request_slot(self, pair: Pair) -> None:
        first, _ = pair(Budgets(requests_per_minute=2, tokens_per_minute=100))

        assert first.try_acquire(60) == 0.0
        assert first.try_acquire(50) > 0
        assert first.try_acquire(50) > 0
        # two refusals took neither requests nor tokens: one request slot is still free
        assert first.try_acquire(40) == 0.0
        assert first.try_acquire(1) > 0

    def test_a_pause_holds_the_other_worker_too(self, pair: Pair) -> None:
        first, second = pair(Budgets())

        first.pause(30)

        assert 29 < second.try_acquire(1) <= 30
        assert 29 < first.try_acquire(1) <= 30

    def test_a_shorter_pause_keeps_the_longer_one(self, pair: Pair) -> None:
        first, second = pair(Budgets())

        first.pause(30)
        second.pause(2)

        assert first.try_acquire(1) > 29

    def test_a_longer_pause_extends_a_shorter_one(self, pair: Pair) -> None:
        first, second = pair(Budgets())

        first.pause(2)
        second.pause(30)

        assert first.try_acquire(1) > 29


class TestInMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture
    def pair(self) -> Pair:
        def make(budgets: Budgets) -> tuple[RateLimiter, RateLimiter]:
            storage, pauses = MemoryStorage(), SharedPause()
            return (
                InMemoryRateLimiter("provider", budgets, storage=storage, pauses=pauses),
                InMemoryRateLimiter("provider", budgets, storage=storage, pauses=pauses),
            )

        return make


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    def pair(self, redis_connection: Redis, redis_url: str) -> Pair:
        provider = f"provider-{uuid4().hex[:8]}"

        def make(budgets: Budgets) -> tuple[RateLimiter, RateLimiter]:
            return (
                RedisRateLimiter(Redis.from_url(redis_url), provider, budgets),
                RedisRateLimiter(Redis.from_url(redis_url), provider, budgets),
            )

        return make

    def test_other_providers_have_their_own_budget(self, redis_url: str) -> None:
        budgets = Budgets(requests_per_minute=1)
        one = RedisRateLimiter(Redis.from_url(redis_url), f"a-{uuid4().hex}", budgets)
        other = RedisRateLimiter(Redis.from_url(redis_url), f"b-{uuid4().hex}", budgets)

        one.pause(30)

        assert other.try_acquire(1) == 0.0

    def test_an_unreachable_redis_is_a_dependency_failure(self) -> None:
        unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        limiter = RedisRateLimiter(unreachable, "provider", Budgets(requests_per_minute=5))

        with pytest.raises(DependencyUnavailable):
            limiter.try_acquire(1)
        with pytest.raises(DependencyUnavailable):
            limiter.pause(1)
