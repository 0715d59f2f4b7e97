"""How often a document is tried, how long to wait between tries, and which errors retry.

The document owns the one attempt counter (`Document.attempts`, raised when an attempt claims it).
The queue's own retry allowance for a job is derived from it (`retries_left_after`), so a job
never retries a document past `max_attempts`, however many jobs it took to get there.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.errors import PermanentError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_attempts` attempts per document; after attempt n fails transiently, wait
    `backoff[n - 1]` seconds (the last delay repeats) before attempt n + 1."""

    max_attempts: int
    backoff: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.backoff or min(self.backoff) < 0:
            raise ValueError("backoff needs at least one delay, none negative")

    @staticmethod
    def retries(error: BaseException) -> bool:
        """Whether another attempt may succeed where this error ended one.

        Permanent errors never retry; transient ones do; anything unexpected (a bug, a crashed
        or killed process) does, within the attempt budget.
        """
        return not isinstance(error, PermanentError)

    def may_attempt_again(self, attempts: int) -> bool:
        """Whether a document that has had `attempts` attempts may have another."""
        return attempts < self.max_attempts

    def retries_left_after(self, attempts: int) -> int:
        """How many more attempts a document that has had `attempts` may have."""
        return max(self.max_attempts - attempts, 0)

    def retry_delays(self) -> tuple[int, ...]:
        """The delay before each retry, one per retry allowed (`max_attempts - 1` of them).

        Laid out so a queue that picks delay `len(delays) - retries_left` for a job with
        `retries_left` retries waits `backoff[n - 1]` after attempt n.
        """
        retries = self.max_attempts - 1
        delays = self.backoff[:retries]
        return delays + (self.backoff[-1],) * (retries - len(delays))
