"""Errors of the Postgres adapters, and the translation of driver errors into application errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from application.errors import DependencyUnavailable


class MissingPgvector(RuntimeError):
    """The Postgres server cannot create the `vector` extension (pgvector is not installed)."""

    def __init__(self, server: str) -> None:
        super().__init__(
            f"the Postgres server at {server} does not have the `vector` extension (pgvector) "
            "available, so the chunks table cannot store embeddings. Install pgvector on that "
            "server (e.g. the `postgresql-<major>-pgvector` package, or the `pgvector/pgvector` "
            "container image), or leave DATABASE_URL unset to use the embedded Postgres, which "
            "ships it."
        )


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the revision this code expects."""

    def __init__(self, current: str | None, expected: str) -> None:
        super().__init__(
            f"the database schema is at revision {current or 'none (empty database)'}, "
            f"this worker needs {expected}: upgrade the schema (Alembic `upgrade head`) "
            "before starting it"
        )


class EmbeddingDimensionMismatch(RuntimeError):
    """The stored vectors have another length than the configured embedder produces."""

    def __init__(self, stored: int, configured: int) -> None:
        super().__init__(
            f"the chunks table stores vectors of {stored} dimensions but the configured embedder "
            f"makes {configured}: use an embedder of {stored} dimensions, or a new database"
        )


#: Errors meaning "the database could not be reached or the connection broke".
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectionError,
)


def is_unavailable(error: BaseException) -> bool:
    """True when `error` says the database is unreachable rather than the request wrong."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _UNAVAILABLE)


@contextmanager
def unavailable_as_dependency_error(what: str = "the database") -> Iterator[None]:
    """Re-raise connection failures inside the block as `DependencyUnavailable`."""
    try:
        yield
    except Exception as e:
        if is_unavailable(e):
            raise DependencyUnavailable(f"{what} is unavailable: {_first_line(e)}") from e
        raise


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
