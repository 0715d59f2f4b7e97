"""The `EmbeddingCache` contract: the in-memory and Postgres caches both pass it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine

from application.errors import DependencyUnavailable
from application.ports import EmbeddingCache, UnitOfWork
from domain import Chunk, Document, EmbeddedChunk, content_hash
from infrastructure.db import SqlAlchemyEmbeddingCache, SqlAlchemyUnitOfWorkFactory, make_engine
from infrastructure.memory import InMemoryDatabase, InMemoryEmbeddingCache

DIMENSION = 32
MODEL = "hashing-v1:32"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

UowFactory = Callable[[], UnitOfWork]


def vector(seed: int) -> list[float]:
    return [((seed * 13 + i) % 11) / 11.0 for i in range(DIMENSION)]


class EmbeddingCacheContract:
    """Subclasses provide `adapter` (the cache), `uow_factory` (to store chunks in what it reads)
    and `unavailable_adapter` (a cache whose store cannot be reached)."""

    def store(
        self,
        uow_factory: UowFactory,
        texts: dict[str, int],
        *,
        workspace_id: UUID,
        model: str = MODEL,
        commit: bool = True,
    ) -> None:
        """A ready document of `workspace_id` embedded by `model`, one chunk per text."""
        doc = Document.register(
            workspace_id=workspace_id,
            filename="a.txt",
            storage_key=f"k/{uuid4()}",
            size_bytes=1,
            content_sha256="00",
            now=T0,
        )
        doc.start_processing(T0)
        doc.mark_ready(
            chunk_count=len(texts),
            embedding_model=model,
            content_sha256="00",
            media_type=None,
            now=T0,
        )
        chunks = [
            EmbeddedChunk(chunk=Chunk(ordinal=i, text=text, token_count=1), embedding=vector(seed))
            for i, (text, seed) in enumerate(texts.items())
        ]
        with uow_factory() as uow:
            uow.documents.add(doc)
            uow.documents.replace_chunks(doc, chunks)
            if commit:
                uow.commit()

    def test_known_hashes_return_their_stored_vectors(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        self.store(uow_factory, {"alpha": 1, "beta": 2}, workspace_id=workspace)

        found = adapter.lookup(workspace, MODEL, [content_hash("alpha"), content_hash("beta")])

        assert set(found) == {content_hash("alpha"), content_hash("beta")}
        assert list(found[content_hash("alpha")]) == pytest.approx(vector(1), rel=1e-6)
        assert list(found[content_hash("beta")]) == pytest.approx(vector(2), rel=1e-6)

    def test_unknown_hashes_are_absent(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        self.store(uow_factory, {"alpha": 1}, workspace_id=workspace)

        found = adapter.lookup(workspace, MODEL, {content_hash("alpha"), content_hash("gamma")})

        assert set(found) == {content_hash("alpha")}

    def test_vectors_of_another_model_are_not_reused(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        self.store(uow_factory, {"alpha": 1}, workspace_id=workspace, model="other-model:32")

        assert adapter.lookup(workspace, MODEL, [content_hash("alpha")]) == {}

    def test_vectors_of_another_workspace_are_not_shared(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        self.store(uow_factory, {"alpha": 1}, workspace_id=uuid4())

        assert adapter.lookup(uuid4(), MODEL, [content_hash("alpha")]) == {}

    def test_uncommitted_chunks_are_not_seen(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        self.store(uow_factory, {"alpha": 1}, workspace_id=workspace, commit=False)

        assert adapter.lookup(workspace, MODEL, [content_hash("alpha")]) == {}

    def test_no_hashes_give_an_empty_result(
        self, adapter: EmbeddingCache, uow_factory: UowFactory
    ) -> None:
        workspace = uuid4()
        self.store(uow_factory, {"alpha": 1}, workspace_id=workspace)

        assert adapter.lookup(workspace, MODEL, []) == {}

    def test_an_unreachable_store_raises_dependency_unavailable(
        self, unavailable_adapter: EmbeddingCache
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            unavailable_adapter.lookup(uuid4(), MODEL, [content_hash("alpha")])


class TestInMemoryEmbeddingCache(EmbeddingCacheContract):
    @pytest.fixture
    def database(self) -> InMemoryDatabase:
        return InMemoryDatabase(dimension=DIMENSION)

    @pytest.fixture
    def adapter(self, database: InMemoryDatabase) -> EmbeddingCache:
        return InMemoryEmbeddingCache(database)

    @pytest.fixture
    def uow_factory(self, database: InMemoryDatabase) -> UowFactory:
        return database.unit_of_work

    @pytest.fixture
    def unavailable_adapter(self) -> EmbeddingCache:
        database = InMemoryDatabase(dimension=DIMENSION)
        database.available = False
        return InMemoryEmbeddingCache(database)


class TestSqlAlchemyEmbeddingCache(EmbeddingCacheContract):
    @pytest.fixture
    def adapter(self, db_engine: Engine) -> EmbeddingCache:
        return SqlAlchemyEmbeddingCache(db_engine)

    @pytest.fixture
    def uow_factory(self, db_engine: Engine) -> UowFactory:
        return SqlAlchemyUnitOfWorkFactory(db_engine)

    @pytest.fixture
    def unavailable_adapter(self) -> EmbeddingCache:
        return SqlAlchemyEmbeddingCache(make_engine("postgresql://postgres@127.0.0.1:1/none"))
