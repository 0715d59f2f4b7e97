"""The `ChunkSearch` contract: the in-memory and Postgres searches both pass it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine

from application.errors import DependencyUnavailable
from application.ports import ChunkSearch, FoundChunk, UnitOfWork
from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyChunkSearch, SqlAlchemyUnitOfWorkFactory, make_engine
from infrastructure.memory import InMemoryChunkSearch, InMemoryDatabase
from tests.fixtures.defaults import DEFAULTS

DIMENSION = 32
T0 = datetime(2026, 1, 1, tzinfo=UTC)

UowFactory = Callable[[], UnitOfWork]


def axis(index: int, lean: float = 0.0) -> list[float]:
    """A unit vector along `index`, leaning `lean` towards the next axis."""
    vector = [0.0] * DIMENSION
    vector[index] = 1.0
    vector[index + 1] = lean
    return vector


def store(
    uow_factory: UowFactory,
    chunks: Sequence[tuple[str, list[float]]],
    *,
    workspace_id: UUID,
    filename: str = "guide.md",
) -> Document:
    """A ready document of `workspace_id` with one chunk per (text, vector)."""
    document = Document.register(
        workspace_id=workspace_id,
        filename=filename,
        storage_key=f"k/{uuid4()}",
        size_bytes=1,
        content_sha256="00",
        now=T0,
    )
    document.start_processing(T0)
    document.mark_ready(
        chunk_count=len(chunks), embedding_model="m", content_sha256="00", media_type=None, now=T0
    )
    embedded = [
        EmbeddedChunk(
            Chunk(
                ordinal=i,
                text=text,
                token_count=1,
                page_start=i + 1,
                page_end=i + 1,
                metadata={"headings": ["Guide", f"Part {i}"]},
            ),
            vector,
        )
        for i, (text, vector) in enumerate(chunks)
    ]
    with uow_factory() as uow:
        uow.documents.add(document)
        uow.documents.replace_chunks(document, embedded)
        uow.commit()
    return document


def texts(found: Sequence[FoundChunk]) -> list[str]:
    return [chunk.text for chunk in found]


CHUNKS = [
    ("Install the worker with pip and start it.", axis(0)),
    ("The worker retries transient failures with backoff.", axis(0, 0.5)),
    ("Chunks are stored in Postgres with their embeddings.", axis(2)),
    ("Redis holds the queue of jobs waiting for the worker.", axis(4)),
]


class ChunkSearchContract:
    """Subclasses provide `adapter`, `uow_factory` (to store what it reads) and
    `unavailable_adapter` (a search whose store cannot be reached)."""

    def test_vector_search_returns_the_nearest_chunks_first(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        store(uow_factory, CHUNKS, workspace_id=workspace)

        found = adapter.by_vector(workspace, axis(0, 0.1), 2)

        assert texts(found) == [CHUNKS[0][0], CHUNKS[1][0]]
        assert found[0].score == pytest.approx(1 / (1 + 0.01) ** 0.5, rel=1e-4)
        assert found[0].score > found[1].score

    def test_found_chunks_say_where_they_come_from(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        document = store(uow_factory, CHUNKS, workspace_id=workspace, filename="ops.md")

        (found,) = adapter.by_vector(workspace, axis(2), 1)

        assert (found.document_id, found.filename, found.ordinal) == (document.id, "ops.md", 2)
        assert (found.page_start, found.page_end, found.headings) == (3, 3, ("Guide", "Part 2"))

    def test_text_search_matches_any_word_and_ranks_more_words_first(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        store(uow_factory, CHUNKS, workspace_id=workspace)

        found = adapter.by_text(workspace, "worker queue", 5)

        assert texts(found)[0] == CHUNKS[3][0]
        assert sorted(texts(found)[1:]) == sorted([CHUNKS[0][0], CHUNKS[1][0]])
        assert texts(adapter.by_text(workspace, "elephant embeddings", 5)) == [CHUNKS[2][0]]
        assert adapter.by_text(workspace, "elephant", 5) == []

    def test_a_distinct_word_outranks_repeats_of_one(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        store(
            uow_factory,
            [("backoff and backoff and backoff", axis(0)), ("backoff with jitter", axis(1))],
            workspace_id=workspace,
        )

        found = adapter.by_text(workspace, "backoff jitter", 5)

        assert texts(found) == ["backoff with jitter", "backoff and backoff and backoff"]

    def test_text_search_ranks_and_scores_positively(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        store(
            uow_factory,
            [("backoff once", axis(0)), ("backoff and backoff and backoff", axis(1))],
            workspace_id=workspace,
        )

        found = adapter.by_text(workspace, "backoff", 5)

        assert texts(found) == ["backoff and backoff and backoff", "backoff once"]
        assert found[0].score > found[1].score > 0

    def test_a_query_without_words_finds_nothing(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        store(uow_factory, CHUNKS, workspace_id=workspace)

        assert adapter.by_text(workspace, " ?! ", 5) == []

    def test_results_stop_at_the_limit(self, adapter: ChunkSearch, uow_factory: UowFactory) -> None:
        workspace = uuid4()
        store(uow_factory, CHUNKS, workspace_id=workspace)

        assert len(adapter.by_vector(workspace, axis(0), 3)) == 3
        assert len(adapter.by_text(workspace, "worker", 2)) == 2

    def test_other_workspaces_are_never_searched(
        self, adapter: ChunkSearch, uow_factory: UowFactory
    ) -> None:
        store(uow_factory, CHUNKS, workspace_id=uuid4())

        assert adapter.by_vector(uuid4(), axis(0), 5) == []
        assert adapter.by_text(uuid4(), "worker", 5) == []

    def test_an_unreachable_store_raises_dependency_unavailable(
        self, unavailable_adapter: ChunkSearch
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            unavailable_adapter.by_vector(uuid4(), axis(0), 5)
        with pytest.raises(DependencyUnavailable):
            unavailable_adapter.by_text(uuid4(), "worker", 5)


class TestInMemoryChunkSearch(ChunkSearchContract):
    @pytest.fixture
    def database(self) -> InMemoryDatabase:
        return InMemoryDatabase(dimension=DIMENSION)

    @pytest.fixture
    def adapter(self, database: InMemoryDatabase) -> ChunkSearch:
        return InMemoryChunkSearch(database)

    @pytest.fixture
    def uow_factory(self, database: InMemoryDatabase) -> UowFactory:
        return database.unit_of_work

    @pytest.fixture
    def unavailable_adapter(self) -> ChunkSearch:
        database = InMemoryDatabase(dimension=DIMENSION)
        database.available = False
        return InMemoryChunkSearch(database)


class TestSqlAlchemyChunkSearch(ChunkSearchContract):
    @pytest.fixture
    def adapter(self, db_engine: Engine) -> ChunkSearch:
        return SqlAlchemyChunkSearch(db_engine, text_search_language=DEFAULTS.text_search_language)

    @pytest.fixture
    def uow_factory(self, db_engine: Engine) -> UowFactory:
        return SqlAlchemyUnitOfWorkFactory(db_engine)

    @pytest.fixture
    def unavailable_adapter(self) -> ChunkSearch:
        return SqlAlchemyChunkSearch(
            make_engine("postgresql://postgres@127.0.0.1:1/none"),
            text_search_language=DEFAULTS.text_search_language,
        )
