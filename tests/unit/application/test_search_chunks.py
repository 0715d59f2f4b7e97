"""Searching chunks: vector, text, and their reciprocal-rank fusion."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from application.ports import FoundChunk, SearchMode
from application.usecases.search import SearchChunks, SearchQuery
from application.usecases.search.search_chunks import RRF_K, fuse
from domain import Chunk, Document, EmbeddedChunk
from infrastructure.embeddings.hashing import HashingEmbedder
from infrastructure.memory import InMemoryChunkSearch, InMemoryDatabase

from .conftest import World

DOCUMENT = uuid4()


def found(ordinal: int, score: float = 0.0) -> FoundChunk:
    return FoundChunk(DOCUMENT, "a.md", ordinal, f"chunk {ordinal}", None, None, (), score)


def ordinals(chunks: list[FoundChunk]) -> list[int]:
    return [chunk.ordinal for chunk in chunks]


def test_a_chunk_high_in_both_lists_beats_one_first_in_only_one() -> None:
    vector = [found(1), found(2), found(3)]
    text = [found(4), found(2), found(1)]

    fused = fuse([(vector, 1.0), (text, 1.0)])

    assert ordinals(fused) == [1, 2, 4, 3]
    assert fused[0].score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 3))


def test_the_weights_decide_between_the_lists() -> None:
    vector = [found(1), found(2)]
    text = [found(2), found(1)]

    assert ordinals(fuse([(vector, 2.0), (text, 1.0)])) == [1, 2]
    assert ordinals(fuse([(vector, 1.0), (text, 2.0)])) == [2, 1]
    assert ordinals(fuse([(vector, 1.0), (text, 0.0)])) == [1, 2]


def test_fusion_keeps_each_chunk_once_and_ties_in_first_seen_order() -> None:
    fused = fuse([([found(1), found(2)], 1.0), ([found(3), found(4)], 1.0)])

    assert ordinals(fused) == [1, 3, 2, 4]


class SearchWorld:
    """One ready document in a workspace, searchable through the in-memory adapter."""

    def __init__(self) -> None:
        self.db = InMemoryDatabase(dimension=32)
        self.embedder = HashingEmbedder(dimension=32)
        self.workspace: UUID = uuid4()
        texts = [
            "Install the worker with pip.",
            "Retries back off after transient failures.",
            "The worker stores chunks in Postgres.",
        ]
        document = World(db=self.db).submit("x")
        document.workspace_id = self.workspace
        vectors = self.embedder.embed(texts)
        with self.db.unit_of_work() as uow:
            uow.documents.save(document)
            chunks = [
                EmbeddedChunk(Chunk(ordinal=i, text=t, token_count=1), v)
                for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
            ]
            uow.documents.replace_chunks(document, chunks)
            uow.commit()

    def search(
        self, question: str, mode: SearchMode, k: int = 5, vector_weight: float = 1.0
    ) -> list[FoundChunk]:
        use_case = SearchChunks(
            search=InMemoryChunkSearch(self.db),
            embedder=self.embedder,
            vector_weight=vector_weight,
            text_weight=1.0,
        )
        return use_case(SearchQuery(self.workspace, question, k, mode))


def test_each_mode_finds_the_chunk_that_answers() -> None:
    world = SearchWorld()

    for mode in SearchMode:
        assert world.search("install worker pip", mode)[0].ordinal == 0, mode


def test_k_bounds_the_results_and_a_blank_question_finds_nothing() -> None:
    world = SearchWorld()

    assert len(world.search("worker", SearchMode.HYBRID, k=1)) == 1
    assert world.search("   ", SearchMode.VECTOR) == []
    assert world.search("worker", SearchMode.TEXT, k=0) == []


def test_search_reads_no_other_workspace() -> None:
    world = SearchWorld()
    world.workspace = uuid4()

    assert world.search("install worker pip", SearchMode.HYBRID) == []


def test_a_document_is_found_by_its_stored_filename() -> None:
    world = SearchWorld()
    document: Document = next(iter(world.db.documents.values()))

    assert world.search("worker", SearchMode.TEXT)[0].filename == document.filename


def test_hybrid_leaves_out_a_list_weighted_zero() -> None:
    world = SearchWorld()

    hybrid = world.search("pip", SearchMode.HYBRID, vector_weight=0.0)

    assert ordinals(hybrid) == ordinals(world.search("pip", SearchMode.TEXT)) == [0]
    assert len(world.search("pip", SearchMode.HYBRID)) == 3
