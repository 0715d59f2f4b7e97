"""Chunk search over the in-memory database: exact cosine similarity, and word matching."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from uuid import UUID

from application.ports import ChunkSearch, FoundChunk
from domain import Document, EmbeddedChunk, Vector
from infrastructure.memory.documents import InMemoryDatabase

_WORD = re.compile(r"\w+")


class InMemoryChunkSearch(ChunkSearch):
    """Scans every committed chunk of the workspace.

    Text search is a plain approximation of Postgres's: lower-cased words, a chunk matches when
    it holds any query word; score = how many distinct query words it holds, plus a fraction
    below one that grows with their occurrences; no stemming, no stop words, no phrases. Raises
    `DependencyUnavailable` when the database is switched off.
    """

    def __init__(self, database: InMemoryDatabase) -> None:
        self._db = database

    def by_vector(self, workspace_id: UUID, vector: Vector, limit: int) -> list[FoundChunk]:
        scored = [
            _found(document, stored, _cosine(vector, stored.embedding))
            for document, stored in self._chunks(workspace_id)
        ]
        return sorted(scored, key=lambda found: -found.score)[:limit]

    def by_text(self, workspace_id: UUID, query: str, limit: int) -> list[FoundChunk]:
        wanted = set(_WORD.findall(query.lower()))
        if not wanted:
            return []
        scored = []
        for document, stored in self._chunks(workspace_id):
            words = _WORD.findall(stored.chunk.text.lower())
            matched = wanted.intersection(words)
            if matched:
                occurrences = sum(w in wanted for w in words)
                score = len(matched) + occurrences / (occurrences + 1)
                scored.append(_found(document, stored, score))
        return sorted(scored, key=lambda found: -found.score)[:limit]

    def _chunks(self, workspace_id: UUID) -> Iterator[tuple[Document, EmbeddedChunk]]:
        self._db.check_available()
        with self._db.lock:
            committed = [
                (self._db.documents[document_id], list(stored))
                for document_id, stored in self._db.chunks.items()
            ]
        for document, stored in committed:
            if document.workspace_id == workspace_id:
                yield from ((document, chunk) for chunk in stored)


def _found(document: Document, stored: EmbeddedChunk, score: float) -> FoundChunk:
    chunk = stored.chunk
    return FoundChunk(
        document_id=document.id,
        filename=document.filename,
        ordinal=chunk.ordinal,
        text=chunk.text,
        page_start=chunk.page_start,
        page_end=chunk.page_end,
        headings=tuple(chunk.metadata.get("headings", ())),
        score=float(score),
    )


def _cosine(a: Vector, b: Vector) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0
