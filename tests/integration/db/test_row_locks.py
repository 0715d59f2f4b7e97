"""Writing an attempt's chunks locks the document's row once per transaction: the attempt fence
(`holds_attempt`'s locking read, or `save_if_held`'s conditional update) has locked it already,
so `replace_chunks` sends no lock of its own; a later transaction locks it again."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import Engine, event

from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyUnitOfWorkFactory

DIMENSION = 32


@pytest.mark.parametrize(("fence", "fence_locks"), [("holds_attempt", 1), ("save_if_held", 0)])
def test_the_fence_lock_serves_the_chunk_write_until_the_transaction_ends(
    db_engine: Engine, fence: str, fence_locks: int
) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(db_engine, embedding_dimension=DIMENSION)
    document = Document.register(
        workspace_id=uuid4(),
        filename="a.txt",
        storage_key="k",
        size_bytes=1,
        content_sha256=None,
        now=datetime.now(UTC),
    )
    document.start_processing(datetime.now(UTC))
    with uow_factory() as uow:
        uow.documents.add(document)
        uow.commit()
    chunks = [EmbeddedChunk(Chunk(ordinal=0, text="a", token_count=1), [0.5] * DIMENSION)]
    locks: list[str] = []

    def record(*args: object) -> None:
        if "FOR UPDATE" in str(args[2]):
            locks.append(str(args[2]))

    event.listen(db_engine, "before_cursor_execute", record)
    try:
        with uow_factory() as uow:
            if fence == "holds_attempt":
                assert uow.documents.holds_attempt(document.id, document.attempts)
            else:
                assert uow.documents.save_if_held(document, document.attempts)
            uow.documents.replace_chunks(document, chunks)
            uow.commit()
            in_one_transaction = len(locks)
            uow.documents.replace_chunks(document, chunks)  # a new transaction
            uow.commit()
    finally:
        event.remove(db_engine, "before_cursor_execute", record)

    assert in_one_transaction == fence_locks
    assert len(locks) == fence_locks + 1
    with uow_factory() as uow:
        assert [c.chunk.text for c in uow.documents.list_chunks(document.id)] == ["a"]
