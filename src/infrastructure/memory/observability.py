"""Clocks, and telemetry that keeps what it is told in lists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from application.ports import Clock, IngestionTelemetry, Stage


class FixedClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class InMemoryTelemetry(IngestionTelemetry):
    def __init__(self) -> None:
        self.stages: list[Stage] = []
        self.outcomes: Counter[str] = Counter()
        self.chunks = 0
        self.tokens = 0
        self.bytes = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.extracted: list[tuple[str, int | None]] = []
        self.throttled_seconds = 0.0
        self.rate_limited_responses = 0

    @contextmanager
    def stage(self, stage: Stage) -> Iterator[None]:
        self.stages.append(stage)
        yield

    def document_processed(
        self, *, outcome: str, size_bytes: int, chunks: int, tokens: int
    ) -> None:
        self.outcomes[outcome] += 1
        self.bytes += size_bytes
        self.chunks += chunks
        self.tokens += tokens

    def embedding_cache_used(self, *, hits: int, misses: int) -> None:
        self.cache_hits += hits
        self.cache_misses += misses

    def embedding_throttled(self, *, waited_seconds: float, rejections: int) -> None:
        self.throttled_seconds += waited_seconds
        self.rate_limited_responses += rejections

    def document_extracted(self, *, media_type: str, pages: int | None) -> None:
        self.extracted.append((media_type, pages))
