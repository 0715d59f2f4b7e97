"""Word of documents finishing, by Postgres's LISTEN/NOTIFY: `ingest add --wait` returns the
moment the last document is ready or failed, instead of at its next poll.

Migration 0004's trigger announces every document whose status becomes `ready` or `failed`
on `FINISH_CHANNEL`, with the document's id as the payload; Postgres delivers it when the
transaction commits (never for one rolled back). A watch listens on a connection of its own,
taken from the engine's pool and handed back with `UNLISTEN *`.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from application.ports import FinishAnnouncements, FinishWatch
from infrastructure.db.errors import unavailable_as_dependency_error

#: The channel migration 0004's trigger notifies.
FINISH_CHANNEL = "document_finished"


class PostgresFinishAnnouncements(FinishAnnouncements):
    """Watches over `engine`'s database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def watch(self, document_ids: Collection[UUID]) -> FinishWatch:
        return _PostgresFinishWatch(self._engine, document_ids)


class _PostgresFinishWatch(FinishWatch):
    def __init__(self, engine: Engine, document_ids: Collection[UUID]) -> None:
        self._engine = engine
        self._watched = {str(document_id) for document_id in document_ids}
        self._announced: set[str] = set()
        self._pooled: PoolProxiedConnection | None = None

    def __enter__(self) -> Self:
        with unavailable_as_dependency_error():
            self._pooled = self._engine.raw_connection()
            self._connection().execute(sql.SQL("LISTEN {}").format(sql.Identifier(FINISH_CHANNEL)))
            self._connection().commit()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pooled is None:
            return
        try:
            self._unlisten(self._connection())
        finally:
            pooled, self._pooled = self._pooled, None
            pooled.close()  # back to the pool (or discarded, if it broke)

    def wait(self, timeout: float) -> int:
        """Notices come a packet at a time (`stop_after=1` yields the whole packet, so none of
        it is dropped); unwatched documents' notices are read and ignored until the deadline."""
        before = len(self._announced)
        deadline = time.monotonic() + max(0.0, timeout)
        with unavailable_as_dependency_error():
            while True:
                remaining = max(0.0, deadline - time.monotonic())
                for notice in self._connection().notifies(timeout=remaining, stop_after=1):
                    if notice.payload in self._watched:
                        self._announced.add(notice.payload)
                if len(self._announced) > before or time.monotonic() >= deadline:
                    return len(self._announced)

    def _connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection the watch listens on (SQLAlchemy types it `Any | None`)."""
        assert self._pooled is not None, "the watch is not entered"
        connection = self._pooled.driver_connection
        assert isinstance(connection, psycopg.Connection)
        return connection

    @staticmethod
    def _unlisten(connection: psycopg.Connection[Any]) -> None:
        """Stop listening before the connection goes back to the pool: its next user must
        not have notices queue up on it."""
        try:
            connection.execute("UNLISTEN *")
            connection.commit()
        except psycopg.Error:
            connection.close()  # the pool discards a closed connection
