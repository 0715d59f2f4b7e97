"""The schema as SQLAlchemy Core tables: `documents` and their `chunks` (with pgvector embeddings).

Alembic owns the schema (see `migrations/`); these tables describe it for queries and for the
drift check. The embedding column's dimension is fixed per database by the migration, so the
query tables leave it open (`VECTOR()`); `schema_metadata(dimension)` gives the full description.
"""

from __future__ import annotations

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

from infrastructure.db.full_text import DEFAULT_TEXT_SEARCH_LANGUAGE, tsvector_expression

STATUSES = ("queued", "processing", "ready", "failed")


def schema_metadata(
    dimension: int | None, text_search_language: str = DEFAULT_TEXT_SEARCH_LANGUAGE
) -> MetaData:
    """The `documents` and `chunks` tables; `dimension=None` leaves the vector length open.

    `text_search_language` is the configuration baked into `chunks.content_tsv` (queries must
    use the same one for the GIN index to serve them).
    """
    metadata = MetaData()
    _documents(metadata)
    _chunks(metadata, dimension, text_search_language)
    return metadata


def _documents(metadata: MetaData) -> Table:
    allowed = ", ".join(f"'{s}'" for s in STATUSES)
    return Table(
        "documents",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("workspace_id", Uuid, nullable=False),
        Column("filename", Text, nullable=False),
        Column("media_type", Text),
        Column("storage_key", Text, nullable=False),
        Column("size_bytes", BigInteger, nullable=False),
        Column("content_sha256", Text),
        Column("status", Text, nullable=False, server_default=text("'queued'")),
        Column("error_code", Text),
        Column("error_message", Text),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("chunk_count", Integer, nullable=False, server_default=text("0")),
        Column("embedding_model", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("processing_started_at", DateTime(timezone=True)),
        Column("processed_at", DateTime(timezone=True)),
        CheckConstraint(f"status IN ({allowed})", name="ck_documents_status"),
        Index("ix_documents_workspace_id", "workspace_id"),
        Index("ix_documents_status_processing_started_at", "status", "processing_started_at"),
        Index("ix_documents_workspace_id_content_sha256", "workspace_id", "content_sha256"),
    )


def _chunks(metadata: MetaData, dimension: int | None, text_search_language: str) -> Table:
    return Table(
        "chunks",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column(
            "document_id",
            Uuid,
            ForeignKey("documents.id", ondelete="CASCADE", name="fk_chunks_document_id"),
            nullable=False,
        ),
        Column("workspace_id", Uuid, nullable=False),
        Column("ordinal", Integer, nullable=False),
        Column("content", Text, nullable=False),
        Column("token_count", Integer, nullable=False),
        Column("page_start", Integer),
        Column("page_end", Integer),
        Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("content_sha256", Text, nullable=False),
        Column("embedding", VECTOR(dimension), nullable=False),
        Column("context", Text, nullable=False, server_default=text("''")),
        Column("embedded_sha256", Text, nullable=False),
        Column(
            "content_tsv",
            TSVECTOR,
            Computed(text(tsvector_expression(text_search_language)), persisted=True),
        ),
        UniqueConstraint("document_id", "ordinal", name="uq_chunks_document_id_ordinal"),
        Index(
            "ix_chunks_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index("ix_chunks_workspace_id_embedded_sha256", "workspace_id", "embedded_sha256"),
        Index("ix_chunks_content_tsv", "content_tsv", postgresql_using="gin"),
    )


metadata = schema_metadata(None)
documents = metadata.tables["documents"]
chunks = metadata.tables["chunks"]
