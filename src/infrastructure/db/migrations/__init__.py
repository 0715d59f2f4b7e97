"""Alembic migrations of the schema, runnable from code with no `alembic.ini`.

`upgrade(url, embedding_dimension)` brings a database to head; the dimension of the
`chunks.embedding` column is taken from the configured embedder at the first upgrade and is then
fixed for that database, as is the text search language of `chunks.content_tsv`. Connection
failures raise `DependencyUnavailable`; a server without pgvector raises `MissingPgvector`.

Checking that a database is at head (`verify_schema`, what every `ingest` command does first)
loads no Alembic: the revision is read from `alembic_version` and the head from the revision
files' text, so a short command does not pay Alembic's imports. Migrating loads it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from infrastructure.db.engine import sqlalchemy_url
from infrastructure.db.errors import (
    EmbeddingDimensionMismatch,
    MissingPgvector,
    SchemaOutOfDate,
    unavailable_as_dependency_error,
)
from infrastructure.db.migrations.dimension import DIMENSION_KEY
from infrastructure.db.migrations.language import LANGUAGE_KEY
from infrastructure.db.schema import stored_vector_dimension_on, vector_extension_available
from infrastructure.redaction import masked_url

if TYPE_CHECKING:
    from alembic.config import Config

_HERE = Path(__file__).resolve().parent
_VERSIONS = _HERE / "versions"
#: The advisory lock every migration takes, so processes starting together migrate one at a time
#: (the second finds the schema at head and does nothing). Any fixed 64-bit number would do.
MIGRATION_LOCK_KEY = 0x696E676573745F6D  # "ingest_m"


def alembic_config(
    embedding_dimension: int | None = None,
    connection: Connection | None = None,
    text_search_language: str | None = None,
) -> Config:
    """An Alembic config of this package's scripts, carrying the dimension, the text search
    language and the connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if embedding_dimension is not None:
        config.attributes[DIMENSION_KEY] = embedding_dimension
    if text_search_language is not None:
        config.attributes[LANGUAGE_KEY] = text_search_language
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    database_url: str,
    embedding_dimension: int,
    revision: str = "head",
    *,
    text_search_language: str | None = None,
) -> None:
    """Migrate the database up to `revision`, creating the `vector` extension first if needed.

    `text_search_language` (None: the migrations' `english`) is baked into the chunks'
    full-text column when the revision that creates it runs, like the vector dimension.

    Runs in one transaction holding a transaction-scoped advisory lock: concurrent callers
    (N workers starting at once) wait for each other, and all but the first find nothing to do.
    Raises `MissingPgvector` when the server cannot provide pgvector, `EmbeddingDimensionMismatch`
    when the database already stores vectors of another length, `DependencyUnavailable` when the
    server cannot be reached.
    """
    from alembic import command

    engine = _migration_engine(database_url)
    try:
        with unavailable_as_dependency_error("Postgres"), engine.begin() as connection:
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
            if not vector_extension_available(connection):
                raise MissingPgvector(masked_url(database_url))
            config = alembic_config(embedding_dimension, connection, text_search_language)
            command.upgrade(config, revision)
            stored = stored_vector_dimension_on(connection)
        if stored is not None and stored != embedding_dimension:
            raise EmbeddingDimensionMismatch(stored, embedding_dimension)
    finally:
        engine.dispose()


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database down to `revision` (`base`: drop every table the migrations made)."""
    from alembic import command

    engine = _migration_engine(database_url)
    try:
        with unavailable_as_dependency_error("Postgres"), engine.begin() as connection:
            command.downgrade(alembic_config(connection=connection), revision)
    finally:
        engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's `alembic_version` row, on the connection's
    search path); None for a database never migrated."""
    with unavailable_as_dependency_error("Postgres"), engine.connect() as connection:
        if connection.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    found = [str(row[0]) for row in rows]
    if len(found) > 1:
        raise RuntimeError(f"the database is at several revisions at once: {sorted(found)}")
    return found[0] if found else None


def head_revision() -> str:
    """The newest revision this code knows: the one no revision file names as its
    `down_revision`."""
    parents = _revision_parents()
    heads = set(parents) - {parent for named in parents.values() for parent in named}
    if len(heads) != 1:
        raise RuntimeError(f"the migrations package has {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _revision_parents() -> dict[str, tuple[str, ...]]:
    """Each revision file's `revision` and the revisions it follows (`down_revision`: none, one,
    or a tuple of them for a merge)."""
    parents: dict[str, tuple[str, ...]] = {}
    for path in sorted(_VERSIONS.glob("*.py")):
        names = _module_literals(path)
        revision, down = names.get("revision"), names.get("down_revision")
        if isinstance(revision, str):
            parents[revision] = (down,) if isinstance(down, str) else tuple(down or ())
    return parents


def _module_literals(path: Path) -> dict[str, Any]:
    """What a module's top-level `name = <literal>` (or `name: type = <literal>`) statements
    assign."""
    found: dict[str, Any] = {}
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant | ast.Tuple):
            found[target.id] = ast.literal_eval(value)
    return found


def stored_vector_dimension(engine: Engine) -> int | None:
    """The length of the vectors the database stores; None before the first migration."""
    with unavailable_as_dependency_error("Postgres"), engine.connect() as connection:
        return stored_vector_dimension_on(connection)


def verify_schema(engine: Engine, embedding_dimension: int | None) -> None:
    """Refuse to go on unless the schema is at head and stores vectors of `embedding_dimension`
    (any dimension when None).

    Raises `SchemaOutOfDate` or `EmbeddingDimensionMismatch` with a message saying what to do.
    """
    current, expected = schema_revision(engine), head_revision()
    if current != expected:
        raise SchemaOutOfDate(current, expected)
    if embedding_dimension is None:
        return
    stored = stored_vector_dimension(engine)
    if stored is not None and stored != embedding_dimension:
        raise EmbeddingDimensionMismatch(stored, embedding_dimension)


def _migration_engine(database_url: str) -> Engine:
    return create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
