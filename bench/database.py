"""Direct SQL the harness needs: registering documents, counting outcomes, emptying tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg

from bench.context import Blob


def connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def register_documents(uow_factory: Any, workspace_id: UUID, blobs: Sequence[Blob]) -> list[UUID]:
    """`queued` documents for `blobs` in one transaction, through the project's repository."""
    from domain import Document

    now = datetime.now(UTC)
    documents = [
        Document.register(
            workspace_id=workspace_id,
            filename=blob.filename,
            storage_key=blob.key,
            size_bytes=blob.file.size,
            content_sha256=None,
            now=now,
            document_id=uuid4(),
        )
        for blob in blobs
    ]
    with uow_factory() as uow:
        for document in documents:
            uow.documents.add(document)
        uow.commit()
    return [d.id for d in documents]


def finished_documents(connection: psycopg.Connection[Any], workspace_id: UUID) -> int:
    row = connection.execute(
        "SELECT count(*) FROM documents WHERE workspace_id = %s AND status IN ('ready', 'failed')",
        (workspace_id,),
    ).fetchone()
    return int(row[0]) if row else 0


def outcomes(connection: psycopg.Connection[Any], workspace_id: UUID) -> dict[str, Any]:
    rows = connection.execute(
        "SELECT coalesce(error_code, status), count(*), sum(chunk_count) FROM documents"
        " WHERE workspace_id = %s GROUP BY 1",
        (workspace_id,),
    ).fetchall()
    by_outcome = {name: int(count) for name, count, _ in rows}
    chunks = sum(int(total or 0) for _, _, total in rows)
    return {"by_outcome": by_outcome, "chunks": chunks}


def chunk_counts(connection: psycopg.Connection[Any], workspace_id: UUID) -> dict[str, int]:
    rows = connection.execute(
        "SELECT filename, chunk_count FROM documents WHERE workspace_id = %s AND status = 'ready'",
        (workspace_id,),
    ).fetchall()
    return {name: int(count) for name, count in rows}


def empty_tables(connection: psycopg.Connection[Any]) -> None:
    """Start each run from empty tables, so index sizes are the same for everyone."""
    connection.execute("TRUNCATE documents, chunks")
    connection.execute("TRUNCATE bench_baseline_chunks, bench_baseline_documents RESTART IDENTITY")
    connection.execute("VACUUM ANALYZE")


#: The chunks' full-text column and its index, as migration 0002 creates them (English).
FULL_TEXT_DDL = (
    "ALTER TABLE chunks ADD COLUMN content_tsv tsvector"
    " GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED",
    "CREATE INDEX ix_chunks_content_tsv ON chunks USING gin (content_tsv)",
)


@contextmanager
def without_full_text(dsn: str) -> Iterator[None]:
    """The chunks table without its full-text column and GIN index for the duration (the
    tables must be empty: they are put back as the migration made them)."""
    with connect(dsn) as connection:
        connection.execute("DROP INDEX ix_chunks_content_tsv")
        connection.execute("ALTER TABLE chunks DROP COLUMN content_tsv")
    try:
        yield
    finally:
        with connect(dsn) as connection:
            connection.execute("TRUNCATE documents, chunks")
            for statement in FULL_TEXT_DDL:
                connection.execute(statement)
