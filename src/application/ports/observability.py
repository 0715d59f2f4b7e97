"""Time and measurements, as the use cases see them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Stage(StrEnum):
    READ = "read"
    EXTRACT = "extract"
    CHUNK = "chunk"
    EMBED = "embed"
    WRITE = "write"


class Clock(Protocol):
    """The current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class IngestionTelemetry(Protocol):
    """Where the pipeline reports what it did. Never raises; never blocks on I/O."""

    def stage(self, stage: Stage) -> AbstractContextManager[None]:
        """Time the enclosed block as `stage`, whether it succeeds or raises."""
        ...

    def document_processed(
        self, *, outcome: str, size_bytes: int, chunks: int, tokens: int
    ) -> None:
        """Count one finished attempt: `outcome` is `ready`, `unchanged` or an error code."""
        ...

    def embedding_cache_used(self, *, hits: int, misses: int) -> None:
        """Count embedding cache hits (vectors reused) and misses (texts sent to the embedder)."""
        ...

    def embedding_throttled(self, *, waited_seconds: float, rejections: int) -> None:
        """Count what one embedding call met of its provider's rate limit: seconds spent waiting
        for the shared budget or a pause, and 429 answers received."""
        ...

    def document_extracted(self, *, media_type: str, pages: int | None) -> None:
        """Note what extraction read the file as: its media type and its page count (None for
        formats without pages). Describes the attempt under way; counts nothing."""
        ...
