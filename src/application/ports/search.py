"""Finding stored chunks for a question: by vector similarity, or by words (full text)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from domain import Vector


class SearchMode(StrEnum):
    """How chunks are found for a question: by meaning, by words, or both fused."""

    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class FoundChunk:
    """A stored chunk found for a question, with where it comes from and how well it matched.

    `score` is comparable only within one list: cosine similarity for vector search, the text
    rank for text search, the fused score for hybrid search.
    """

    document_id: UUID
    filename: str
    ordinal: int
    text: str
    page_start: int | None
    page_end: int | None
    headings: tuple[str, ...]
    score: float

    @property
    def key(self) -> tuple[UUID, int]:
        """What identifies the chunk across result lists."""
        return self.document_id, self.ordinal


class ChunkSearch(Protocol):
    """Reads the stored chunks of one workspace, best match first.

    Both methods read committed data in their own short transaction, never return chunks of
    another workspace, return at most `limit` chunks (fewer when fewer match), and raise
    `DependencyUnavailable` when the store cannot be reached.
    """

    def by_vector(self, workspace_id: UUID, vector: Vector, limit: int) -> list[FoundChunk]:
        """The chunks whose embeddings are nearest `vector` by cosine distance, nearest first;
        `score` is the cosine similarity (1 for the same direction)."""
        ...

    def by_text(self, workspace_id: UUID, query: str, limit: int) -> list[FoundChunk]:
        """The chunks whose content holds any word of `query`, best ranked first.

        Words are matched after stemming, leaving out stop words; a query with no searchable
        word matches nothing. A chunk holding more of the query's distinct words ranks above one
        holding fewer; among chunks holding as many, more occurrences rank higher. `score` is
        positive, higher for better matches.
        """
        ...
