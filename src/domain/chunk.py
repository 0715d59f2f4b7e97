"""A piece of a document's text, sized for one embedding."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: An embedding: any sequence of floats (adapters may pass numpy arrays).
Vector = Sequence[float]


def content_hash(text: str) -> str:
    """The hex SHA-256 of a chunk's text, the key under which its embedding is reused."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """The `ordinal`-th piece of a document's text, with where it came from."""

    ordinal: int
    text: str
    token_count: int
    page_start: int | None = None
    page_end: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    content_sha256: str = ""

    def __post_init__(self) -> None:
        if self.ordinal < 0:
            raise ValueError("a chunk's ordinal is zero or more")
        if not self.content_sha256:
            object.__setattr__(self, "content_sha256", content_hash(self.text))


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk with its embedding, ready to be stored."""

    chunk: Chunk
    embedding: Vector
