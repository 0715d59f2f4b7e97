"""Postgres + pgvector adapters: engine, repositories, unit of work, embedding cache, migrations."""

from infrastructure.db import migrations
from infrastructure.db.documents import (
    DocumentSummary,
    SqlAlchemyDocumentRepository,
    summarize_documents,
)
from infrastructure.db.embedding_cache import SqlAlchemyEmbeddingCache
from infrastructure.db.engine import make_engine, ping
from infrastructure.db.errors import EmbeddingDimensionMismatch, MissingPgvector, SchemaOutOfDate
from infrastructure.db.finish_announcements import PostgresFinishAnnouncements
from infrastructure.db.search import SqlAlchemyChunkSearch
from infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory

__all__ = [
    "DocumentSummary",
    "EmbeddingDimensionMismatch",
    "MissingPgvector",
    "PostgresFinishAnnouncements",
    "SchemaOutOfDate",
    "SqlAlchemyChunkSearch",
    "SqlAlchemyDocumentRepository",
    "SqlAlchemyEmbeddingCache",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "make_engine",
    "migrations",
    "ping",
    "summarize_documents",
]
