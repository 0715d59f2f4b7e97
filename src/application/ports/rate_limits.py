"""One budget of calls to a rate-limited provider, shared by every worker that calls it."""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    """Requests-per-minute and tokens-per-minute budgets for one provider, and its pauses.

    Every limiter built for the same provider and store shares one budget: the Redis adapter
    across every worker on that Redis, the in-memory one within a process. Neither method
    blocks: the caller waits as told and asks again.
    """

    def try_acquire(self, tokens: int) -> float:
        """Take one request of `tokens` tokens from the budgets if it fits now and return 0.0;
        else take nothing and return how many seconds to wait before asking again (more than
        0). While the provider is paused, the answer is the time left of the pause. A request
        larger than a whole budget is counted as the whole budget, so it can pass at all.
        Raises `DependencyUnavailable` when the shared store cannot be reached."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every caller sharing this budget for `seconds` from now (the provider answered
        429 with Retry-After); a longer pause already in force is kept. Raises
        `DependencyUnavailable` when the shared store cannot be reached."""
        ...
