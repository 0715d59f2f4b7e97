"""A unit of work: one SQLAlchemy connection and its transaction, per job step."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from uuid import uuid4

from sqlalchemy import Connection, Engine

from application.ports import UnitOfWork, UnitOfWorkFactory
from domain import Document
from infrastructure.db.documents import SqlAlchemyDocumentRepository, VectorDimension
from infrastructure.db.embedding_cache import CONTENT_HASHES, lookup_statement
from infrastructure.db.errors import is_unavailable, unavailable_as_dependency_error


class SqlAlchemyUnitOfWork(UnitOfWork):
    """Checks a connection out of the engine's pool on `__enter__` and begins a transaction.

    `commit()` makes everything staged durable at once (and a new transaction begins on the next
    statement); leaving the block without it rolls back. The connection goes back to the pool on
    `__exit__`. Failing to connect or commit raises `DependencyUnavailable`.
    """

    documents: SqlAlchemyDocumentRepository

    def __init__(self, engine: Engine, *, dimension: VectorDimension | None = None) -> None:
        self._engine = engine
        self._dimension = dimension or VectorDimension()
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        with unavailable_as_dependency_error():
            self._connection = self._engine.connect()
        self.documents = SqlAlchemyDocumentRepository(self._connection, self._dimension)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._open(), None
        try:
            self._quietly_roll_back(connection)
        finally:
            self.documents.transaction_ended()
            connection.close()

    def commit(self) -> None:
        try:
            with unavailable_as_dependency_error():
                self._open().commit()
        finally:
            self.documents.transaction_ended()

    @property
    def connection(self) -> Connection:
        """The open connection (between `__enter__` and `__exit__`)."""
        return self._open()

    def _open(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not entered")
        return self._connection

    @staticmethod
    def _quietly_roll_back(connection: Connection) -> None:
        """Roll back; on a broken connection the server has already dropped the transaction."""
        try:
            connection.rollback()
        except Exception as e:
            if not is_unavailable(e):
                raise


class SqlAlchemyUnitOfWorkFactory(UnitOfWorkFactory):
    """Makes a fresh `SqlAlchemyUnitOfWork` on the shared engine for each call.

    Chunks are checked against `embedding_dimension`, or, unset, against the dimension the
    schema stores, read once for all the units of work this factory makes.
    """

    def __init__(self, engine: Engine, *, embedding_dimension: int | None = None) -> None:
        self._engine = engine
        self._dimension = VectorDimension(embedding_dimension)

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._engine, dimension=self._dimension)

    def warm_up(self) -> None:
        """Compile, once, every statement a processing attempt runs, so each work horse forked
        afterwards inherits them in the engine's compiled-statement cache instead of compiling
        them again.

        Transactions: one, on a document id that does not exist, always rolled back: nothing
        is written. Raises `DependencyUnavailable` when the database cannot be reached.
        """
        absent = Document.register(
            workspace_id=uuid4(),
            filename="",
            storage_key="",
            size_bytes=0,
            content_sha256=None,
            now=datetime.now(UTC),
        )
        with self() as uow:
            uow.documents.warm_up(absent)
            with unavailable_as_dependency_error():
                lookup = lookup_statement(absent.workspace_id, "")
                uow.connection.execute(lookup, {CONTENT_HASHES: [""]}).all()
