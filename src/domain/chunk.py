"""A piece of a document's text, sized for one embedding."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: An embedding: any sequence of floats (adapters may pass numpy arrays).
Vector = Sequence[float]


def content_hash(text: str) -> str:
    """The hex SHA-256 of a text (a chunk's content, or what is embedded for it)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


#: Joins a document's title and the headings above a chunk into its context line.
CONTEXT_SEPARATOR = " › "


def context_line(title: str | None, headings: Sequence[str]) -> str:
    """`title › heading › subheading`: where a chunk sits, said before its text when embedded.

    A first heading that repeats the title is said once; an empty title is left out.
    """
    parts = [title] if title else []
    parts += [h for i, h in enumerate(headings) if not (i == 0 and h == title)]
    return CONTEXT_SEPARATOR.join(parts)


@dataclass(frozen=True, slots=True)
class Chunk:
    """The `ordinal`-th piece of a document's text, with where it came from.

    `text` is the document's own text, as stored. `context` (empty, or a `context_line`) is said
    before it when it is embedded: `embedded_text` is exactly what the embedder reads, and
    `embedded_sha256` its hash, the key under which the vector is reused.
    """

    ordinal: int
    text: str
    token_count: int
    page_start: int | None = None
    page_end: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    content_sha256: str = ""
    context: str = ""
    embedded_sha256: str = ""

    def __post_init__(self) -> None:
        if self.ordinal < 0:
            raise ValueError("a chunk's ordinal is zero or more")
        if not self.content_sha256:
            object.__setattr__(self, "content_sha256", content_hash(self.text))
        if not self.embedded_sha256:
            embedded = self.embedded_text
            digest = self.content_sha256 if embedded == self.text else content_hash(embedded)
            object.__setattr__(self, "embedded_sha256", digest)

    @property
    def embedded_text(self) -> str:
        """What the embedder reads: the context line, a newline, the text (or the text alone)."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk with its embedding, ready to be stored."""

    chunk: Chunk
    embedding: Vector
