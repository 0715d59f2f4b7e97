"""The engine against a real server: URLs, readiness pings, fork safety, lost connections."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
from sqlalchemy import Engine, text

from application.errors import DependencyUnavailable
from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine, migrations, ping
from infrastructure.db import engine as engine_module
from infrastructure.memory import FixedClock

CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/none"
TERMINATE_OTHER_BACKENDS = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE pid <> pg_backend_pid() AND datname = current_database()"
)


@pytest.fixture
def fresh_engine(new_database_url: Callable[[], str]) -> Iterator[tuple[str, Engine]]:
    url = new_database_url()
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def a_document() -> Document:
    return Document.register(
        workspace_id=uuid4(),
        filename="a.txt",
        storage_key="k",
        size_bytes=1,
        content_sha256=None,
        now=FixedClock().now(),
    )


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://", "postgresql+psycopg://"])
def test_every_postgres_url_spelling_uses_psycopg_3(scheme: str) -> None:
    engine = make_engine(f"{scheme}user@127.0.0.1:1/db")

    assert engine.url.drivername == "postgresql+psycopg"


def test_ping_passes_on_a_live_server(db_engine: Engine) -> None:
    ping(db_engine, timeout_seconds=2)

    assert backend_pid(db_engine) > 0


def test_ping_raises_dependency_unavailable_when_nothing_listens() -> None:
    with pytest.raises(DependencyUnavailable, match="Postgres"):
        ping(make_engine(CLOSED_PORT_URL, connect_timeout=1), timeout_seconds=1)


def test_a_forked_child_opens_its_own_connections(db_engine: Engine) -> None:
    db_engine = make_engine(db_engine.url.render_as_string(hide_password=False))
    parent_pid = backend_pid(db_engine)
    read_end, write_end = os.pipe()

    child = os.fork()
    if child == 0:
        try:
            os.write(write_end, str(backend_pid(db_engine)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_pid = int(os.read(read_end, 32))
    os.close(read_end)
    os.waitpid(child, 0)

    assert child_pid != parent_pid
    assert backend_pid(db_engine) == parent_pid  # the parent's pooled connection still works


def test_a_connection_lost_mid_transaction_raises_dependency_unavailable(
    db_engine: Engine,
) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(db_engine)
    with uow_factory() as uow:
        uow.documents.add(a_document())
        with db_engine.connect() as killer:
            killer.execute(TERMINATE_OTHER_BACKENDS)
        with pytest.raises(DependencyUnavailable):
            uow.commit()

    assert backend_pid(db_engine) > 0  # the pool replaced the dead connection


def test_an_engine_made_before_the_migration_writes_vectors(
    fresh_engine: tuple[str, Engine],
) -> None:
    url, engine = fresh_engine
    backend_pid(engine)  # pools a connection made while the `vector` type did not exist
    migrations.upgrade(url, 4)
    document = a_document()
    chunk = EmbeddedChunk(chunk=Chunk(ordinal=0, text="x", token_count=1), embedding=[1, 0, 0, 0])

    with SqlAlchemyUnitOfWorkFactory(engine)() as uow:
        uow.documents.add(document)
        uow.documents.replace_chunks(document, [chunk])
        uow.commit()
        stored = uow.documents.list_chunks(document.id)

    assert [list(c.embedding) for c in stored] == [[1.0, 0.0, 0.0, 0.0]]


def counting_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings `engine` sends from now on."""
    sent: list[object] = []
    ping_once = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        sent.append(dbapi_connection)
        return ping_once(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_before_use(
    fresh_engine: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, engine = fresh_engine
    killed = backend_pid(engine)  # its connection now waits in the pool
    killer = make_engine(url)
    with killer.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    killer.dispose()
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    pings = counting_pings(engine, monkeypatch)

    replacement = backend_pid(engine)

    assert replacement != killed
    assert len(pings) >= 1


def test_a_connection_handed_back_a_moment_ago_is_used_without_a_ping(
    fresh_engine: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, engine = fresh_engine
    first = backend_pid(engine)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    pings = counting_pings(engine, monkeypatch)

    again = backend_pid(engine)

    assert again == first
    assert pings == []
