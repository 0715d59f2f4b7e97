"""`RateLimiter` adapters over the `limits` library: in Redis (one budget for every worker on
it) and in memory (one budget per process).

Both count with `limits`' sliding-window counter: the weighted sum of this minute's and the
previous minute's hits, two numbers per budget whatever a request costs (its moving window would
store one entry per token). The pause a provider's Retry-After asks for is one key in Redis whose
time to live is the pause, so it is timed by Redis's clock alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis import Redis
from redis.exceptions import RedisError

from application.errors import DependencyUnavailable
from application.ports import RateLimiter

#: The shortest and longest wait `try_acquire` suggests while a budget is spent: it frees up
#: gradually, so callers look again at least once a second.
MIN_WAIT_SECONDS = 0.05
MAX_WAIT_SECONDS = 1.0
_KEY_PREFIX = "ingestion-worker:rate-limit"


@dataclass(frozen=True, slots=True)
class Budgets:
    """Requests and tokens per minute one provider allows; None: no such limit."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for value in (self.requests_per_minute, self.tokens_per_minute):
            if value is not None and value < 1:
                raise ValueError("a budget must be at least 1 per minute, or None")


class _SlidingWindowBudgets:
    """The two budgets of one provider, counted in a `limits` storage."""

    def __init__(self, storage: Storage, provider: str, budgets: Budgets) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._provider = provider
        self._requests = _per_minute(budgets.requests_per_minute)
        self._tokens = _per_minute(budgets.tokens_per_minute)

    def try_take(self, tokens: int) -> float:
        """Take one request of `tokens` tokens and return 0.0, or return how long to wait."""
        wanted = [
            (item, cost)
            for item, cost in ((self._requests, 1), (self._tokens, tokens))
            if item is not None
        ]
        for item, cost in wanted:
            cost = min(max(cost, 1), item.amount)
            if not self._limiter.test(item, self._provider, cost=cost):
                return self._wait_for(item, cost)
        for item, cost in wanted:
            cost = min(max(cost, 1), item.amount)
            if not self._limiter.hit(item, self._provider, cost=cost):
                return self._wait_for(item, cost)  # another caller took it in between
        return 0.0

    def _wait_for(self, item: RateLimitItem, cost: int) -> float:
        stats = self._limiter.get_window_stats(item, self._provider)
        needed = max(cost - stats.remaining, 1) / item.amount
        wait = (stats.reset_time - time.time()) * needed
        return min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, wait))


def _per_minute(amount: int | None) -> RateLimitItem | None:
    return None if amount is None else RateLimitItemPerMinute(amount, namespace=_KEY_PREFIX)


#: Pause for ARGV[1] ms unless a longer pause is in force (PEXPIRE's GT needs Redis 7).
_EXTEND_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
end
"""


class RedisRateLimiter(RateLimiter):
    """The budgets of `provider` (e.g. its URL and model) kept in Redis, shared by every
    limiter for that provider on the same Redis; its pauses are one key whose TTL is the pause.
    """

    def __init__(self, redis: Redis, provider: str, budgets: Budgets) -> None:
        storage = RedisStorage(
            "redis://", connection_pool=redis.connection_pool, wrap_exceptions=True
        )
        self._budgets = _SlidingWindowBudgets(storage, provider, budgets)
        self._redis = redis
        self._pause_key = f"{_KEY_PREFIX}:paused:{provider}"
        self._extend_pause = redis.register_script(_EXTEND_PAUSE)

    def try_acquire(self, tokens: int) -> float:
        try:
            paused_ms = int(self._redis.pttl(self._pause_key))
            if paused_ms > 0:
                return paused_ms / 1000
            return self._budgets.try_take(tokens)
        except (RedisError, StorageError, OSError) as error:
            raise _unavailable(error) from error

    def pause(self, seconds: float) -> None:
        milliseconds = max(int(seconds * 1000), 1)
        try:
            self._extend_pause(keys=[self._pause_key], args=[milliseconds])
        except (RedisError, OSError) as error:
            raise _unavailable(error) from error


class InMemoryRateLimiter(RateLimiter):
    """The budgets of `provider` in this process's memory: shared by the limiters built with
    the same `storage` (a `limits.storage.MemoryStorage`), paused together through `pauses`."""

    def __init__(
        self,
        provider: str,
        budgets: Budgets,
        *,
        storage: MemoryStorage | None = None,
        pauses: SharedPause | None = None,
    ) -> None:
        self._budgets = _SlidingWindowBudgets(storage or MemoryStorage(), provider, budgets)
        self._pauses = pauses or SharedPause()

    def try_acquire(self, tokens: int) -> float:
        left = self._pauses.left()
        return left if left > 0 else self._budgets.try_take(tokens)

    def pause(self, seconds: float) -> None:
        self._pauses.extend(seconds)


class SharedPause:
    """A "paused until" instant that several in-memory limiters share."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def left(self) -> float:
        """Seconds until the pause ends; 0.0 when none is in force."""
        with self._lock:
            return max(self._until - self._clock(), 0.0)

    def extend(self, seconds: float) -> None:
        """Pause until `seconds` from now, unless a longer pause is in force."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(seconds, 0.0))


def _unavailable(error: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"Redis did not answer the rate limiter: {error}")
