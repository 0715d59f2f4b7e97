"""Search a workspace's chunks by vector, by text, or both fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from application.ports import ChunkSearch, Embedder, FoundChunk, SearchMode

#: The constant of reciprocal-rank fusion: a chunk at rank r of a list adds weight / (k + r).
RRF_K = 10
#: How many of each list's best chunks hybrid search fuses, at least (or four times `k`): deep
#: enough that a chunk ranked low in one list but high in the other still gets both shares.
FUSION_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The `k` chunks of `workspace_id` that best answer `question`, found by `mode`."""

    workspace_id: UUID
    question: str
    k: int
    mode: SearchMode


class SearchChunks:
    """Answer a question with the best-matching stored chunks of one workspace.

    `vector` embeds the question with the ingestion's embedder and returns the nearest chunks;
    `text` matches its words against the chunks' full-text index; `hybrid` runs both and fuses
    the two rankings by reciprocal rank: a chunk's score is the sum over the lists it appears
    in of `weight / (RRF_K + rank)`, ranks from 1, with `vector_weight` and `text_weight`; a
    list weighted 0 is not searched at all.

    Reads only, each list in its own short transaction. Raises `DependencyUnavailable` when the
    store cannot be reached, and what the embedder raises (`EmbedderUnavailable`,
    `EmbedderRejected`) for vector and hybrid search.
    """

    def __init__(
        self,
        *,
        search: ChunkSearch,
        embedder: Embedder,
        vector_weight: float,
        text_weight: float,
    ) -> None:
        self._search = search
        self._embedder = embedder
        self._vector_weight = vector_weight
        self._text_weight = text_weight

    def __call__(self, query: SearchQuery) -> list[FoundChunk]:
        """At most `query.k` chunks, best first."""
        if query.k < 1 or not query.question.strip():
            return []
        if query.mode is SearchMode.VECTOR:
            return self._by_vector(query, query.k)
        if query.mode is SearchMode.TEXT:
            return self._search.by_text(query.workspace_id, query.question, query.k)
        candidates = max(FUSION_CANDIDATES, 4 * query.k)
        weighted = []
        if self._vector_weight > 0:
            weighted.append((self._by_vector(query, candidates), self._vector_weight))
        if self._text_weight > 0:
            by_text = self._search.by_text(query.workspace_id, query.question, candidates)
            weighted.append((by_text, self._text_weight))
        return fuse(weighted)[: query.k]

    def _by_vector(self, query: SearchQuery, limit: int) -> list[FoundChunk]:
        (vector,) = self._embedder.embed([query.question])
        return self._search.by_vector(query.workspace_id, vector, limit)


def fuse(rankings: Sequence[tuple[Sequence[FoundChunk], float]]) -> list[FoundChunk]:
    """Reciprocal-rank fusion of weighted rankings: best fused score first, ties in the order
    the chunks were first seen; each chunk appears once, with its fused score."""
    scores: dict[tuple[UUID, int], float] = {}
    found: dict[tuple[UUID, int], FoundChunk] = {}
    for ranking, weight in rankings:
        for rank, chunk in enumerate(ranking, start=1):
            found.setdefault(chunk.key, chunk)
            scores[chunk.key] = scores.get(chunk.key, 0.0) + weight / (RRF_K + rank)
    ordered = sorted(found, key=lambda key: -scores[key])
    return [replace(found[key], score=scores[key]) for key in ordered]
