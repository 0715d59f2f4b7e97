"""Postgres + pgvector adapters: engine, repositories, unit of work, embedding cache, migrations."""

from infrastructure.db import migrations
from infrastructure.db.documents import SqlAlchemyDocumentRepository, count_documents_by_status
from infrastructure.db.embedding_cache import SqlAlchemyEmbeddingCache
from infrastructure.db.engine import make_engine, ping
from infrastructure.db.errors import EmbeddingDimensionMismatch, MissingPgvector, SchemaOutOfDate
from infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory

__all__ = [
    "EmbeddingDimensionMismatch",
    "MissingPgvector",
    "SchemaOutOfDate",
    "SqlAlchemyDocumentRepository",
    "SqlAlchemyEmbeddingCache",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "count_documents_by_status",
    "make_engine",
    "migrations",
    "ping",
]
