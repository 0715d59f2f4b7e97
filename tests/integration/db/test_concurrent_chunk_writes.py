"""Two attempts writing the same document's chunks at once end with one whole set, not an error."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy import Engine, text

from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyUnitOfWorkFactory

DIMENSION = 32


def chunk_set(label: str, count: int) -> list[EmbeddedChunk]:
    return [
        EmbeddedChunk(Chunk(ordinal=i, text=f"{label} {i}", token_count=2), [0.5] * DIMENSION)
        for i in range(count)
    ]


def wait_until_a_backend_waits_for_a_lock(engine: Engine, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
    raise AssertionError("the second writer never waited for the first one's lock")


def test_a_second_writer_waits_for_the_first_and_replaces_its_set(db_engine: Engine) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(db_engine)
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
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with uow_factory() as uow:
                uow.documents.replace_chunks(document, chunk_set("second", 2))
                uow.commit()
        except BaseException as error:
            errors.append(error)
        finally:
            second_done.set()

    with uow_factory() as first:
        first.documents.replace_chunks(document, chunk_set("first", 3))
        thread = threading.Thread(target=second_writer)
        thread.start()
        wait_until_a_backend_waits_for_a_lock(db_engine)
        assert not second_done.is_set()
        first.commit()
    thread.join(timeout=30)

    assert errors == []
    with uow_factory() as uow:
        texts = [c.chunk.text for c in uow.documents.list_chunks(document.id)]
    assert texts == ["second 0", "second 1"]
