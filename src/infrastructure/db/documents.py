"""Documents and chunks in Postgres through one SQLAlchemy connection (the unit of work's)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import psycopg
from pgvector.psycopg import register_vector
from sqlalchemy import ARRAY, Connection, Engine, Row, Uuid, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert

from application.errors import DocumentNotFound, WorkspaceMismatch
from application.ports import DocumentRepository
from domain import Chunk, Document, DocumentAlreadyExists, DocumentStatus, EmbeddedChunk
from infrastructure.db.engine import VECTOR_READY, limit_statement_time
from infrastructure.db.errors import unavailable_as_dependency_error
from infrastructure.db.schema import stored_vector_dimension_on
from infrastructure.db.tables import chunks, documents

_COPY_CHUNKS = (
    "COPY chunks (document_id, workspace_id, ordinal, content, token_count, page_start, page_end,"
    " metadata, content_sha256, embedding, context, embedded_sha256)"
    " FROM STDIN WITH (FORMAT BINARY)"
)
_COPY_TYPES = [
    *("uuid", "uuid", "int4", "text", "int4", "int4", "int4", "jsonb", "text", "vector"),
    *("text", "text"),
]

_STATE_COLUMNS = (
    "filename",
    "media_type",
    "storage_key",
    "size_bytes",
    "content_sha256",
    "error_code",
    "error_message",
    "attempts",
    "chunk_count",
    "embedding_model",
    "created_at",
    "updated_at",
    "processing_started_at",
    "processed_at",
)


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """What an operator watches in the `documents` table, read in one short transaction."""

    counts: dict[DocumentStatus, int]
    #: Documents `queued` (handed back for a retry) or `failed`, by (status, error code).
    errors: dict[tuple[DocumentStatus, str], int]
    #: When the longest-running `processing` attempt started; None when none is processing.
    oldest_processing_started_at: datetime | None


def summarize_documents(engine: Engine, timeout_seconds: float) -> DocumentSummary:
    """Counts by status, error codes of waiting or failed documents, and the oldest attempt.

    For scrapes: three statements served by the (status, processing_started_at) index, on one
    pooled connection in a transaction rolled back at the end; Postgres cancels any that runs
    longer than `timeout_seconds` (SQLAlchemy's `OperationalError`). Raises
    `DependencyUnavailable` when Postgres cannot be reached.
    """
    waiting_or_failed = (DocumentStatus.QUEUED.value, DocumentStatus.FAILED.value)
    errors = (
        select(documents.c.status, documents.c.error_code, func.count())
        .where(documents.c.status.in_(waiting_or_failed), documents.c.error_code.is_not(None))
        .group_by(documents.c.status, documents.c.error_code)
    )
    oldest = select(func.min(documents.c.processing_started_at)).where(
        documents.c.status == DocumentStatus.PROCESSING.value
    )
    with unavailable_as_dependency_error("Postgres"), engine.connect() as connection:
        limit_statement_time(connection, timeout_seconds)
        by_code = connection.execute(errors).all()
        return DocumentSummary(
            counts=SqlAlchemyDocumentRepository(connection).count_by_status(),
            errors={
                (DocumentStatus(str(status)), str(code)): cast(int, count)
                for status, code, count in by_code
            },
            oldest_processing_started_at=connection.execute(oldest).scalar_one(),
        )


class VectorDimension:
    """The store's vector dimension: given, or read from the schema on first need and then
    remembered. One per unit-of-work factory, shared by its units of work, so checking chunks
    costs no query per document (the dimension changes only by a migration, which a running
    worker's start-up check guards)."""

    def __init__(self, known: int | None = None) -> None:
        self._known = known

    def on(self, connection: Connection) -> int | None:
        """The dimension, read through `connection` when not known yet (None: no vectors)."""
        if self._known is None:
            with unavailable_as_dependency_error():
                self._known = stored_vector_dimension_on(connection)
        return self._known


class SqlAlchemyDocumentRepository(DocumentRepository):
    """`documents` and `chunks` rows, read and written on the unit of work's open transaction.

    Writes are sent at once (there is no session to flush) but stay invisible to others until
    the unit of work commits. `replace_chunks` deletes the old rows and binary-COPYs the new ones
    in that same transaction, so readers switch from the old set to the new set at commit.
    Connection failures raise `DependencyUnavailable`.
    """

    def __init__(self, connection: Connection, dimension: VectorDimension | None = None) -> None:
        self._connection = connection
        self._dimension = dimension or VectorDimension()
        #: Documents whose rows this transaction has locked (a row lock lasts until it ends).
        self._locked: set[UUID] = set()

    def transaction_ended(self) -> None:
        """Forget the row locks: the unit of work committed or rolled back."""
        self._locked.clear()

    def add(self, document: Document) -> None:
        values = {"id": document.id, "workspace_id": document.workspace_id, **_state(document)}
        statement = (
            insert(documents)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(documents.c.id)
        )
        with unavailable_as_dependency_error():
            inserted = self._connection.execute(statement).first()
        if inserted is None:
            raise DocumentAlreadyExists(document.id)

    def get(self, document_id: UUID, workspace_id: UUID) -> Document:
        with unavailable_as_dependency_error():
            row = self._connection.execute(_select_document(document_id)).one_or_none()
        if row is None:
            raise DocumentNotFound(f"no document {document_id}")
        if row.workspace_id != workspace_id:
            raise WorkspaceMismatch(f"document {document_id} is not in workspace {workspace_id}")
        return _document(row)

    def get_many(self, document_ids: Collection[UUID], workspace_id: UUID) -> list[Document]:
        statement = (
            select(documents)
            .where(documents.c.workspace_id == workspace_id, _among(document_ids))
            .order_by(documents.c.id)
        )
        return self._documents(statement)

    def find_identical(
        self, workspace_id: UUID, filename: str, content_sha256: str
    ) -> Document | None:
        statement = (
            select(documents)
            .where(
                documents.c.workspace_id == workspace_id,
                documents.c.filename == filename,
                documents.c.content_sha256 == content_sha256,
            )
            .order_by(documents.c.created_at.desc(), documents.c.id)
            .limit(1)
        )
        found = self._documents(statement)
        return found[0] if found else None

    def save(self, document: Document) -> None:
        with unavailable_as_dependency_error():
            updated = self._connection.execute(_update_document(document)).rowcount
        if updated == 0:
            raise DocumentNotFound(f"no document {document.id}")

    def holds_attempt(self, document_id: UUID, attempt: int) -> bool:
        with unavailable_as_dependency_error():
            row = self._connection.execute(_lock_document(document_id)).one_or_none()
        if row is None:
            raise DocumentNotFound(f"no document {document_id}")
        self._locked.add(document_id)
        return bool(row.status == DocumentStatus.PROCESSING.value and row.attempts == attempt)

    def save_if_held(self, document: Document, attempt: int) -> bool:
        """One conditional UPDATE: its row lock is the fence lock `replace_chunks` then needs
        no second time; a miss alone costs a second query, to tell a taken-over document
        from a missing one."""
        with unavailable_as_dependency_error():
            updated = self._connection.execute(_update_held(document, attempt)).rowcount
            if updated == 0:
                self.holds_attempt(document.id, attempt)  # raises DocumentNotFound if missing
                return False
        self._locked.add(document.id)
        return True

    def replace_chunks(self, document: Document, chunks_: Sequence[EmbeddedChunk]) -> None:
        """Lock the document's row first (unless this transaction holds it already), so
        concurrent replacements of one document queue up (the later one then deletes the
        earlier one's committed set) instead of colliding."""
        self._check(chunks_)
        with unavailable_as_dependency_error():
            if document.id not in self._locked:
                self._connection.execute(_lock_document(document.id))
                self._locked.add(document.id)
            self._connection.execute(_delete_chunks(document.id))
            if chunks_:
                self._copy(document, chunks_)

    def warm_up(self, document: Document) -> None:
        """Run once each statement a processing attempt runs (read, save, save if held, lock,
        delete, a COPY of no rows) for `document`, which need not exist, so the engine's
        compiled-statement cache holds them, and learn the store's dimension. Leaves writes
        staged: the caller must roll back."""
        self._dimension.on(self._connection)
        with unavailable_as_dependency_error():
            self._connection.execute(_select_document(document.id)).one_or_none()
            self._connection.execute(_update_document(document))
            self._connection.execute(_update_held(document, document.attempts))
            self._connection.execute(_lock_document(document.id)).all()
            self._connection.execute(_delete_chunks(document.id))
            self._copy(document, [])

    def list_chunks(self, document_id: UUID) -> list[EmbeddedChunk]:
        statement = (
            select(chunks).where(chunks.c.document_id == document_id).order_by(chunks.c.ordinal)
        )
        with unavailable_as_dependency_error():
            rows = self._connection.execute(statement).all()
        return [_embedded_chunk(row) for row in rows]

    def list_stale_processing(self, started_before: datetime, limit: int) -> list[Document]:
        statement = (
            select(documents)
            .where(
                documents.c.status == DocumentStatus.PROCESSING.value,
                documents.c.processing_started_at < started_before,
            )
            .order_by(documents.c.processing_started_at, documents.c.id)
            .limit(limit)
        )
        return self._documents(statement)

    def list_by_status(
        self, status: DocumentStatus, workspace_id: UUID | None = None, limit: int = 1000
    ) -> list[Document]:
        statement = select(documents).where(documents.c.status == status.value)
        if workspace_id is not None:
            statement = statement.where(documents.c.workspace_id == workspace_id)
        return self._documents(
            statement.order_by(documents.c.created_at, documents.c.id).limit(limit)
        )

    def count_by_status(
        self, workspace_id: UUID | None = None, *, document_ids: Collection[UUID] | None = None
    ) -> dict[DocumentStatus, int]:
        statement = select(documents.c.status, func.count()).group_by(documents.c.status)
        if workspace_id is not None:
            statement = statement.where(documents.c.workspace_id == workspace_id)
        if document_ids is not None:
            statement = statement.where(_among(document_ids))
        with unavailable_as_dependency_error():
            rows = self._connection.execute(statement).all()
        found = {DocumentStatus(str(status)): cast(int, count) for status, count in rows}
        return {**dict.fromkeys(DocumentStatus, 0), **found}

    def count_failed_by_error_code(self, workspace_id: UUID | None = None) -> dict[str, int]:
        statement = (
            select(documents.c.error_code, func.count())
            .where(
                documents.c.status == DocumentStatus.FAILED.value,
                documents.c.error_code.is_not(None),
            )
            .group_by(documents.c.error_code)
        )
        if workspace_id is not None:
            statement = statement.where(documents.c.workspace_id == workspace_id)
        with unavailable_as_dependency_error():
            rows = self._connection.execute(statement).all()
        return {str(code): cast(int, count) for code, count in rows}

    def _documents(self, statement: Any) -> list[Document]:
        with unavailable_as_dependency_error():
            rows = self._connection.execute(statement).all()
        return [_document(row) for row in rows]

    def _check(self, chunks_: Sequence[EmbeddedChunk]) -> None:
        ordinals = [c.chunk.ordinal for c in chunks_]
        if len(set(ordinals)) != len(ordinals):
            raise ValueError("chunk ordinals must be unique")
        dimension = self._dimension.on(self._connection)
        if dimension is None:
            return
        wrong = next((c for c in chunks_ if len(c.embedding) != dimension), None)
        if wrong is not None:
            raise ValueError(
                f"every embedding must have {dimension} dimensions; chunk {wrong.chunk.ordinal} "
                f"has {len(wrong.embedding)}"
            )

    def _copy(self, document: Document, chunks_: Sequence[EmbeddedChunk]) -> None:
        raw = self._psycopg_connection()
        with raw.cursor() as cursor, cursor.copy(_COPY_CHUNKS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in _copy_rows(document, chunks_):
                copy.write_row(row)

    def _psycopg_connection(self) -> psycopg.Connection[Any]:
        # SQLAlchemy types the driver's connection as `Any | None`; with psycopg it is this.
        raw: psycopg.Connection[Any] = self._connection.connection.driver_connection  # type: ignore[assignment]
        if not self._connection.info.get(VECTOR_READY):
            register_vector(raw)
            self._connection.info[VECTOR_READY] = True
        return raw


def _among(document_ids: Collection[UUID]) -> Any:
    """`documents.id = ANY(:ids)`: one array parameter however many ids (an IN list would bind
    one parameter each, and Postgres takes at most 65,535)."""
    ids = bindparam("document_ids", list(document_ids), type_=ARRAY(Uuid))
    return documents.c.id == any_(ids)


def _select_document(document_id: UUID) -> Any:
    return select(documents).where(documents.c.id == document_id)


def _update_document(document: Document) -> Any:
    return update(documents).where(documents.c.id == document.id).values(_state(document))


def _update_held(document: Document, attempt: int) -> Any:
    return _update_document(document).where(
        documents.c.status == DocumentStatus.PROCESSING.value, documents.c.attempts == attempt
    )


def _lock_document(document_id: UUID) -> Any:
    return (
        select(documents.c.id, documents.c.status, documents.c.attempts)
        .where(documents.c.id == document_id)
        .with_for_update()
    )


def _delete_chunks(document_id: UUID) -> Any:
    return chunks.delete().where(chunks.c.document_id == document_id)


def _copy_rows(document: Document, chunks_: Sequence[EmbeddedChunk]) -> Iterator[tuple[Any, ...]]:
    for embedded in chunks_:
        chunk = embedded.chunk
        yield (
            document.id,
            document.workspace_id,
            chunk.ordinal,
            chunk.text,
            chunk.token_count,
            chunk.page_start,
            chunk.page_end,
            dict(chunk.metadata),
            chunk.content_sha256,
            _as_vector(embedded.embedding),
            chunk.context,
            chunk.embedded_sha256,
        )


def _as_vector(embedding: Sequence[float]) -> Any:
    """A value pgvector's dumper takes: a list or a 1-d numpy array."""
    import numpy as np  # loaded once chunks are written, not by a command that only submits

    if isinstance(embedding, np.ndarray | list):
        return embedding
    return list(embedding)


def _state(document: Document) -> dict[str, Any]:
    values = {name: getattr(document, name) for name in _STATE_COLUMNS}
    values["status"] = document.status.value
    return values


def _document(row: Row[Any]) -> Document:
    return Document(
        id=row.id,
        workspace_id=row.workspace_id,
        filename=row.filename,
        storage_key=row.storage_key,
        size_bytes=row.size_bytes,
        created_at=row.created_at.astimezone(UTC),
        updated_at=row.updated_at.astimezone(UTC),
        media_type=row.media_type,
        content_sha256=row.content_sha256,
        status=DocumentStatus(row.status),
        error_code=row.error_code,
        error_message=row.error_message,
        attempts=row.attempts,
        chunk_count=row.chunk_count,
        embedding_model=row.embedding_model,
        processing_started_at=_utc(row.processing_started_at),
        processed_at=_utc(row.processed_at),
    )


def _embedded_chunk(row: Row[Any]) -> EmbeddedChunk:
    chunk = Chunk(
        ordinal=row.ordinal,
        text=row.content,
        token_count=row.token_count,
        page_start=row.page_start,
        page_end=row.page_end,
        metadata=row._mapping["metadata"],
        content_sha256=row.content_sha256,
        context=row.context,
        embedded_sha256=row.embedded_sha256,
    )
    return EmbeddedChunk(chunk=chunk, embedding=row.embedding)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)
