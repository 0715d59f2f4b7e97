"""`SqlAlchemyUnitOfWorkFactory.warm_up`: every statement of an attempt compiled once, nothing
written, and later attempts served from the engine's compiled-statement cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine.default import CACHE_HIT

from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyEmbeddingCache, SqlAlchemyUnitOfWorkFactory, make_engine

DIMENSION = 32


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        documents = connection.execute(text("SELECT count(*) FROM documents")).scalar_one()
        chunks = connection.execute(text("SELECT count(*) FROM chunks")).scalar_one()
    return documents, chunks


def registered(uow_factory: SqlAlchemyUnitOfWorkFactory) -> Document:
    document = Document.register(
        workspace_id=uuid4(),
        filename="a.txt",
        storage_key="k",
        size_bytes=1,
        content_sha256=None,
        now=datetime.now(UTC),
    )
    with uow_factory() as uow:
        uow.documents.add(document)
        uow.commit()
    return document


def attempt(engine: Engine, uow_factory: SqlAlchemyUnitOfWorkFactory, document: Document) -> None:
    """The database side of one processing attempt, as `ProcessUploadedDocument` runs it."""
    now = datetime.now(UTC)
    with uow_factory() as uow:
        document = uow.documents.get(document.id, document.workspace_id)
    document.start_processing(now)
    with uow_factory() as uow:
        uow.documents.save(document)
        uow.commit()
    chunk = Chunk(ordinal=0, text="hello", token_count=1)
    SqlAlchemyEmbeddingCache(engine).lookup(document.workspace_id, "m", {chunk.content_sha256})
    document.mark_ready(
        chunk_count=1,
        embedding_model="m",
        content_sha256="0" * 64,
        media_type="text/plain",
        now=now,
    )
    with uow_factory() as uow:
        assert uow.documents.save_if_held(document, document.attempts)
        uow.documents.replace_chunks(document, [EmbeddedChunk(chunk, [0.5] * DIMENSION)])
        uow.commit()


@pytest.fixture
def fresh_engine(db_engine: Engine, migrated_database_url: str) -> Iterator[Engine]:
    """An engine of its own (an empty compiled-statement cache) on the emptied database."""
    engine = make_engine(migrated_database_url)
    yield engine
    engine.dispose()


def test_warm_up_writes_nothing_and_a_later_attempt_works(db_engine: Engine) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(db_engine, embedding_dimension=DIMENSION)
    document = registered(uow_factory)

    uow_factory.warm_up()

    assert counts(db_engine) == (1, 0)
    attempt(db_engine, uow_factory, document)
    with uow_factory() as uow:
        stored = uow.documents.get(document.id, document.workspace_id)
        assert [c.chunk.text for c in uow.documents.list_chunks(document.id)] == ["hello"]
    assert (stored.status.value, stored.chunk_count, stored.attempts) == ("ready", 1, 1)
    assert counts(db_engine) == (1, 1)


def test_after_warm_up_an_attempt_compiles_no_statement(
    db_engine: Engine, fresh_engine: Engine
) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(fresh_engine, embedding_dimension=DIMENSION)
    document = registered(SqlAlchemyUnitOfWorkFactory(db_engine))
    uow_factory.warm_up()
    compiled: list[tuple[str, Any]] = []

    @event.listens_for(fresh_engine, "before_cursor_execute")
    def record(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _m: bool) -> None:
        compiled.append((statement.split()[0], context.cache_hit))

    attempt(fresh_engine, uow_factory, document)

    assert {verb for verb, _ in compiled} >= {"SELECT", "UPDATE", "DELETE"}
    assert [(verb, hit) for verb, hit in compiled if hit is not CACHE_HIT] == []
