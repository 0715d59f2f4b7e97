"""The embedding cache as a read view over the stored chunks (no table of its own)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, Select, Text, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from application.ports import EmbeddingCache
from domain import Vector
from infrastructure.db.errors import unavailable_as_dependency_error
from infrastructure.db.tables import chunks, documents

#: The parameter of `lookup_statement` that carries the content hashes looked up.
CONTENT_HASHES = "content_hashes"


def lookup_statement(workspace_id: UUID, model_id: str) -> Select[tuple[str, Any]]:
    """The one query behind `SqlAlchemyEmbeddingCache.lookup` (also run by the warm-up).

    The hashes are bound at execution as one array, `{CONTENT_HASHES: [...]}`: an `IN` list
    would render one placeholder per hash on every call (a document has thousands), while
    `= ANY(array)` is compiled once and cached.
    """
    return (
        select(chunks.c.embedded_sha256, chunks.c.embedding)
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(
            chunks.c.workspace_id == workspace_id,
            documents.c.workspace_id == workspace_id,
            documents.c.embedding_model == model_id,
            chunks.c.embedded_sha256 == any_(bindparam(CONTENT_HASHES, type_=ARRAY(Text))),
        )
    )


class SqlAlchemyEmbeddingCache(EmbeddingCache):
    """Finds vectors among committed chunks of documents embedded by the asked model.

    Keys are the hashes of the embedded texts (`chunks.embedded_sha256`). Each lookup is one
    indexed query (`chunks (workspace_id, embedded_sha256)`) on its own, in autocommit (no
    BEGIN and ROLLBACK around it); storing chunks fills the cache at no extra cost. Connection
    failures raise `DependencyUnavailable`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        if not content_hashes:
            return {}
        statement = lookup_statement(workspace_id, model_id)
        hashes = {CONTENT_HASHES: sorted(set(content_hashes))}
        with unavailable_as_dependency_error(), self._engine.connect() as connection:
            single_statement = connection.execution_options(isolation_level="AUTOCOMMIT")
            rows = single_statement.execute(statement, hashes).all()
        return {row.embedded_sha256: row.embedding for row in rows}
