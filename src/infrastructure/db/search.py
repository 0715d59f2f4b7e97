"""Chunk search in Postgres: pgvector's cosine distance, and full text over `content_tsv`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, Row, Select, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY

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
    import numpy as np  # loaded by a search, not by a command that only submits

    distance = chunks.c.embedding.cosine_distance(np.asarray(vector, dtype=np.float32))
    return (
        select(*_COLUMNS, (1 - distance).label("score"))
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(chunks.c.workspace_id == workspace_id)
        .order_by(distance)
        .limit(limit)
    )


def text_statement(workspace_id: UUID, query: str, language: str, limit: int) -> Select[Any]:
    """Chunks holding any of the query's words, matched against `content_tsv` (served by its GIN
    index), ranked by `ts_rank`: each distinct word matched adds to the rank (more with more
    occurrences, never as much as another distinct word), so chunks holding more of the words
    come first."""
    tsquery = any_word_query(query, language)
    rank = func.ts_rank(chunks.c.content_tsv, tsquery)
    return (
        select(*_COLUMNS, rank.label("score"))
        .join(documents, documents.c.id == chunks.c.document_id)
        .where(chunks.c.workspace_id == workspace_id, chunks.c.content_tsv.bool_op("@@")(tsquery))
        .order_by(rank.desc(), chunks.c.document_id, chunks.c.ordinal)
        .limit(limit)
    )


def any_word_query(query: str, language: str) -> ColumnElement[Any]:
    """The tsquery matching any word of `query`: the words `plainto_tsquery` finds (stemmed, stop
    words left out; a hyphenated or compound word stays a phrase), joined by OR instead of AND,
    since a question rarely has all its words in the passage that answers it. Its text form puts
    ` & ` only between quoted lexemes or phrases (a lexeme holds no space), so the rewrite to
    ` | ` is exact."""
    words = func.plainto_tsquery(
        cast(bindparam("language", checked_language(language)), REGCONFIG), query
    )
    return cast(func.replace(cast(words, Text), " & ", " | "), TSQUERY)


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
