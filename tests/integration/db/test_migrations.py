"""Migrations: they go up and down cleanly, and leave exactly the schema `tables.py` describes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect, text

from infrastructure.db import (
    EmbeddingDimensionMismatch,
    MissingPgvector,
    SchemaOutOfDate,
    make_engine,
    migrations,
)
from infrastructure.db.engine import sqlalchemy_url
from infrastructure.db.migrations.compare import compare_type
from infrastructure.db.tables import schema_metadata

SYSTEM_POSTGRES_WITHOUT_PGVECTOR = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def empty_url(new_database_url: Callable[[], str]) -> str:
    return new_database_url()


@pytest.fixture
def engine_on(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated_connection(migrated_database_url: str) -> Iterator[Connection]:
    engine = create_engine(sqlalchemy_url(migrated_database_url))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def drift(connection: Connection, dimension: int) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
    metadata = schema_metadata(dimension)
    return [*compare_metadata(context, metadata), *index_method_drift(connection, metadata)]


def index_method_drift(connection: Connection, metadata: MetaData) -> list[str]:
    """Differences in index access method and operator classes, which autogenerate ignores.

    An HNSW index built with the wrong operator class (say `vector_l2_ops` instead of
    `vector_cosine_ops`) or as another kind of index is silently useless to cosine queries.
    """
    differences = []
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        live = {
            ix["name"]: ix.get("dialect_options", {}) for ix in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            wanted = _method(index.dialect_options["postgresql"])
            found = _method_of_reflected(live.get(index.name or "", {}))
            if index.name in live and wanted != found:
                differences.append(f"index {index.name}: expected {wanted}, found {found}")
    return differences


def _method(options: Any) -> tuple[str, dict[str, str]]:
    return (options.get("using") or "btree", dict(options.get("ops") or {}))


def _method_of_reflected(options: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return (options.get("postgresql_using") or "btree", dict(options.get("postgresql_ops") or {}))


def test_the_head_read_from_the_revision_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())

    assert migrations.head_revision() == script.get_current_head()


def test_a_database_never_migrated_is_at_no_revision(engine_on: Engine) -> None:
    with engine_on.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is None

    assert migrations.schema_revision(engine_on) is None


def test_up_down_up_leaves_the_schema_at_head(empty_url: str, engine_on: Engine) -> None:
    migrations.upgrade(empty_url, 32)
    migrations.downgrade(empty_url)
    assert migrations.schema_revision(engine_on) is None
    assert migrations.stored_vector_dimension(engine_on) is None

    migrations.upgrade(empty_url, 32)

    assert migrations.schema_revision(engine_on) == migrations.head_revision()


def test_every_revision_steps_down_and_up_again(empty_url: str, engine_on: Engine) -> None:
    for revision in revisions_oldest_first():
        migrations.upgrade(empty_url, 32, revision)
        migrations.downgrade(empty_url, "-1")
        migrations.upgrade(empty_url, 32, revision)
        assert migrations.schema_revision(engine_on) == revision


def test_the_migrated_schema_matches_the_tables_exactly(migrated_connection: Connection) -> None:
    assert drift(migrated_connection, 32) == []


def test_the_drift_check_sees_a_vector_of_another_length(migrated_connection: Connection) -> None:
    (column_changes,) = drift(migrated_connection, 33)
    ((kind, _, table, column, _, stored, described),) = column_changes  # type: ignore[misc]

    assert (kind, table, column) == ("modify_type", "chunks", "embedding")
    assert (stored.dim, described.dim) == (32, 33)


def test_the_drift_check_sees_an_index_with_other_operators(
    migrated_connection: Connection,
) -> None:
    metadata = schema_metadata(32)
    hnsw = next(
        i for i in metadata.tables["chunks"].indexes if i.name == "ix_chunks_embedding_hnsw"
    )
    hnsw.dialect_options["postgresql"]["ops"] = {"embedding": "vector_l2_ops"}

    assert index_method_drift(migrated_connection, metadata) == [
        "index ix_chunks_embedding_hnsw: expected ('hnsw', {'embedding': 'vector_l2_ops'}), "
        "found ('hnsw', {'embedding': 'vector_cosine_ops'})"
    ]


def test_the_vector_length_comes_from_the_configured_embedder(
    empty_url: str, engine_on: Engine
) -> None:
    migrations.upgrade(empty_url, 8)

    assert migrations.stored_vector_dimension(engine_on) == 8


def test_upgrading_with_another_vector_length_is_refused(empty_url: str, engine_on: Engine) -> None:
    migrations.upgrade(empty_url, 32)

    with pytest.raises(EmbeddingDimensionMismatch, match="32 dimensions .* makes 64"):
        migrations.upgrade(empty_url, 64)
    assert migrations.stored_vector_dimension(engine_on) == 32


def test_verify_schema_says_what_is_wrong(empty_url: str, engine_on: Engine) -> None:
    with pytest.raises(SchemaOutOfDate, match="none"):
        migrations.verify_schema(engine_on, 32)
    migrations.upgrade(empty_url, 32)

    with pytest.raises(EmbeddingDimensionMismatch):
        migrations.verify_schema(engine_on, 384)
    migrations.verify_schema(engine_on, 32)


def test_a_server_without_pgvector_gets_a_message_naming_it() -> None:
    try:
        psycopg.connect(SYSTEM_POSTGRES_WITHOUT_PGVECTOR, connect_timeout=2).close()
    except psycopg.OperationalError:
        pytest.skip("no Postgres without pgvector on 127.0.0.1:5432")

    with pytest.raises(MissingPgvector) as raised:
        migrations.upgrade(SYSTEM_POSTGRES_WITHOUT_PGVECTOR, 32)

    message = str(raised.value)
    assert "`vector` extension (pgvector)" in message
    assert "Install pgvector" in message
    assert "127.0.0.1:5432/test" in message


def _upgrade_when_all_are_ready(url: str, barrier: Any, errors: Any) -> None:
    barrier.wait(timeout=60)
    try:
        migrations.upgrade(url, 32)
    except Exception as error:  # reported to the test, which fails naming it
        errors.put(f"{type(error).__name__}: {error}")


def test_upgrades_started_together_migrate_once(empty_url: str, engine_on: Engine) -> None:
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(4), context.Queue()
    upgrades = [
        context.Process(target=_upgrade_when_all_are_ready, args=(empty_url, barrier, errors))
        for _ in range(4)
    ]
    for process in upgrades:
        process.start()
    for process in upgrades:
        process.join(120)

    reported = []
    while not errors.empty():
        reported.append(errors.get(timeout=5))
    assert reported == []
    assert [process.exitcode for process in upgrades] == [0, 0, 0, 0]
    assert migrations.schema_revision(engine_on) == migrations.head_revision()


def generated_expression(engine: Engine) -> str:
    query = text(
        "SELECT generation_expression FROM information_schema.columns"
        " WHERE table_name = 'chunks' AND column_name = 'content_tsv'"
    )
    with engine.connect() as connection:
        return str(connection.execute(query).scalar_one())


def test_the_full_text_column_bakes_in_the_configured_language(
    empty_url: str, engine_on: Engine
) -> None:
    migrations.upgrade(empty_url, 32, text_search_language="simple")

    assert generated_expression(engine_on) == "to_tsvector('simple'::regconfig, content)"


def test_chunks_written_before_the_context_keep_their_vectors_reusable(
    empty_url: str, engine_on: Engine
) -> None:
    migrations.upgrade(empty_url, 32, "0001")
    with engine_on.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO documents (id, workspace_id, filename, storage_key, size_bytes)"
                " VALUES (gen_random_uuid(), gen_random_uuid(), 'a.txt', 'k', 1);"
                " INSERT INTO chunks (document_id, workspace_id, ordinal, content, token_count,"
                " content_sha256, embedding) SELECT id, workspace_id, 0, 'Readers never see"
                " half a document', 6, 'abc', array_fill(0.5, ARRAY[32])::vector FROM documents"
            )
        )

    migrations.upgrade(empty_url, 32)

    with engine_on.connect() as connection:
        row = connection.execute(
            text(
                "SELECT context, embedded_sha256,"
                " content_tsv @@ websearch_to_tsquery('english', 'reader documents') AS hit"
                " FROM chunks"
            )
        ).one()
    assert (row.context, row.embedded_sha256, row.hit) == ("", "abc", True)
