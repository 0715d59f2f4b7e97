"""The SQLAlchemy engine: psycopg 3 driver, pgvector types, a pool that never crosses a fork."""

from __future__ import annotations

import math
import os
import time
import weakref
from typing import Any

import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from application.errors import DependencyUnavailable
from infrastructure.db.errors import unavailable_as_dependency_error

#: Key in a pooled connection's `info` saying pgvector's adapters are registered on it.
VECTOR_READY = "pgvector_registered"
#: A pooled connection idle longer than this, in seconds, is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "idle_since"


def sqlalchemy_url(database_url: str) -> str:
    """`database_url` naming the psycopg 3 driver (`postgres://`, `postgresql://` accepted)."""
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def make_engine(database_url: str, *, pool_size: int = 5, connect_timeout: float = 5.0) -> Engine:
    """An engine for `database_url` whose connections know pgvector's `vector` type.

    A connection that waited in the pool longer than `PING_AFTER_IDLE_SECONDS` is checked
    before use (a dead one is replaced); one handed back a moment ago (the previous step of the
    same job) is not, which spares a small document a round trip per step. A forked child (an
    RQ work horse) forgets the parent's pooled connections without closing them, and opens its
    own.
    """
    engine = create_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        connect_args={"connect_timeout": max(1, round(connect_timeout))},
    )
    event.listen(engine, "connect", _VectorType().register_on)
    _ping_idle_connections(engine)
    _forget_pool_after_fork(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for connections idle a while: raising
    `DisconnectionError` at checkout makes the pool discard the connection and open another."""

    def idle_from_now(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE, -math.inf)
        if time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except psycopg.Error as error:
            raise DisconnectionError(f"the pooled connection is gone: {error}") from error

    event.listen(engine, "connect", idle_from_now)
    event.listen(engine.pool, "checkin", idle_from_now)
    event.listen(engine.pool, "checkout", ping_if_idle)


class _VectorType:
    """The `vector` type's catalogue entry, looked up once per engine, then reused.

    Every work horse opens fresh connections; without this each one would spend four catalogue
    queries teaching the connection pgvector's types. A forked child inherits the entry the
    parent already looked up.
    """

    def __init__(self) -> None:
        self._info: TypeInfo | None = None

    def register_on(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if self._info is None:
            self._info = self._fetch(dbapi_connection)
        if self._info is None:
            record.info[VECTOR_READY] = False
            return
        register_vector_info(dbapi_connection, self._info)
        record.info[VECTOR_READY] = True

    @staticmethod
    def _fetch(dbapi_connection: psycopg.Connection[Any]) -> TypeInfo | None:
        info = TypeInfo.fetch(dbapi_connection, "vector")
        if dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            dbapi_connection.rollback()
        return info


def ping(engine: Engine, timeout_seconds: float, *, new_connection: bool = False) -> None:
    """Run `SELECT 1` within `timeout_seconds`; raise `DependencyUnavailable` if it cannot.

    On a connection borrowed from `engine`'s pool, or with `new_connection` on one opened for
    the probe alone (and closed after it): a Postgres out of connection slots still serves the
    pooled ones."""
    probed = _unpooled(engine, timeout_seconds) if new_connection else engine
    try:
        with unavailable_as_dependency_error("Postgres"), probed.connect() as connection:
            limit_statement_time(connection, timeout_seconds)
            connection.execute(text("SELECT 1"))
    except DependencyUnavailable:
        raise
    except Exception as e:
        raise DependencyUnavailable(f"Postgres did not answer: {e}") from e
    finally:
        if probed is not engine:
            probed.dispose()


def _unpooled(engine: Engine, timeout_seconds: float) -> Engine:
    return create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={"connect_timeout": max(1, round(timeout_seconds))},
    )


def limit_statement_time(connection: Connection, timeout_seconds: float) -> None:
    """Make Postgres cancel any statement of `connection`'s current transaction that runs
    longer than `timeout_seconds` (reset when the transaction ends)."""
    timeout_ms = max(1, int(timeout_seconds * 1000))
    connection.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(timeout_ms)}
    )


def _forget_pool_after_fork(engine: Engine) -> None:
    engine_ref = weakref.ref(engine)

    def dispose_in_child() -> None:
        forked = engine_ref()
        if forked is not None:
            forked.dispose(close=False)

    os.register_at_fork(after_in_child=dispose_in_child)
