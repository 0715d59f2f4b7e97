"""Chunk search in Postgres: pgvector's cosine distance, and full text over `content_tsv`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Engine, Row, Select, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import REGCONFIG

from application.ports import ChunkSearch, FoundChunk
from domain import Vector
from infrastructure.db.errors import unavailable_as_dependency_error
from infrastructure.db.full_text import checked_language
from infrastructure.db.tables import chunks, documents

_COLUMNS = (
    chunks.c.document_id,
    documents.c.filename,
    chunks.c.ordinal,
    chunks.c.content,
    chunks.c.page_start,
    chunks.c.page_end,
    chunks.c.metadata,
)


def vector_statement(workspace_id: UUID, vector: Vector, limit: int) -> Select[Any]:
    """Nearest first by cosine distance (served by the HNSW index); score: cosine similarity."""
    distance = chunks.c.embedding.cosine_distance(np.asarray(vector, dtype=np.float32))
    return (
        select(*_COLUMNS, (1 - distance).label("score"))
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(chunks.c.workspace_id == workspace_id)
        .order_by(distance)
        .limit(limit)
    )


def text_statement(workspace_id: UUID, query: str, language: str, limit: int) -> Select[Any]:
    """`websearch_to_tsquery` matched against `content_tsv` (served by its GIN index), ranked by
    `ts_rank_cd` (cover density: matched words close together rank higher)."""
    tsquery = func.websearch_to_tsquery(
        cast(bindparam("language", checked_language(language)), REGCONFIG), query
    )
    rank = func.ts_rank_cd(chunks.c.content_tsv, tsquery)
    return (
        select(*_COLUMNS, rank.label("score"))
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(chunks.c.workspace_id == workspace_id, chunks.c.content_tsv.bool_op("@@")(tsquery))
        .order_by(rank.desc(), chunks.c.document_id, chunks.c.ordinal)
        .limit(limit)
    )


class SqlAlchemyChunkSearch(ChunkSearch):
    """Searches `chunks` with one query per call on a short-lived connection.

    Text queries use `text_search_language`, which must be the configuration the migration
    baked into `content_tsv` (TEXT_SEARCH_LANGUAGE) for words to be stemmed alike. Connection
    failures raise `DependencyUnavailable`.
    """

    def __init__(self, engine: Engine, *, text_search_language: str) -> None:
        self._engine = engine
        self._language = checked_language(text_search_language)

    def by_vector(self, workspace_id: UUID, vector: Vector, limit: int) -> list[FoundChunk]:
        return self._run(vector_statement(workspace_id, vector, limit))

    def by_text(self, workspace_id: UUID, query: str, limit: int) -> list[FoundChunk]:
        return self._run(text_statement(workspace_id, query, self._language, limit))

    def _run(self, statement: Select[Any]) -> list[FoundChunk]:
        with unavailable_as_dependency_error(), self._engine.connect() as connection:
            return [_found(row) for row in connection.execute(statement)]


def _found(row: Row[Any]) -> FoundChunk:
    return FoundChunk(
        document_id=row.document_id,
        filename=row.filename,
        ordinal=row.ordinal,
        text=row.content,
        page_start=row.page_start,
        page_end=row.page_end,
        headings=tuple(row.metadata.get("headings", ())),
        score=float(row.score),
    )
