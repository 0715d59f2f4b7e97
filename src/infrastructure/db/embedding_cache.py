"""The embedding cache as a read view over the stored chunks (no table of its own)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, Select, select

from application.ports import EmbeddingCache
from domain import Vector
from infrastructure.db.errors import unavailable_as_dependency_error
from infrastructure.db.tables import chunks, documents


def lookup_statement(
    workspace_id: UUID, model_id: str, content_hashes: Collection[str]
) -> Select[tuple[str, Any]]:
    """The one query behind `SqlAlchemyEmbeddingCache.lookup` (also run by the warm-up)."""
    return (
        select(chunks.c.content_sha256, chunks.c.embedding)
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(
            chunks.c.workspace_id == workspace_id,
            documents.c.workspace_id == workspace_id,
            documents.c.embedding_model == model_id,
            chunks.c.content_sha256.in_(list(set(content_hashes))),
        )
    )


class SqlAlchemyEmbeddingCache(EmbeddingCache):
    """Finds vectors among committed chunks of documents embedded by the asked model.

    Each lookup is one indexed query (`chunks (workspace_id, content_sha256)`) in its own short
    transaction; storing chunks fills the cache at no extra cost. Connection failures raise
    `DependencyUnavailable`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        if not content_hashes:
            return {}
        statement = lookup_statement(workspace_id, model_id, content_hashes)
        with unavailable_as_dependency_error(), self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return {row.content_sha256: row.embedding for row in rows}
