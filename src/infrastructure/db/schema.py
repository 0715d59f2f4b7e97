"""Questions asked of the live schema: the embedding column's dimension, pgvector's presence."""

from __future__ import annotations

from sqlalchemy import Connection, text

_EMBEDDING_TYPMOD = text(
    "SELECT a.atttypmod FROM pg_attribute a"
    " WHERE a.attrelid = to_regclass('chunks') AND a.attname = 'embedding' AND NOT a.attisdropped"
)
_VECTOR_AVAILABLE = text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")


def stored_vector_dimension_on(connection: Connection) -> int | None:
    """The declared length of `chunks.embedding`; None without that column or without a length.

    pgvector keeps a `vector(n)` column's `n` as the attribute's type modifier.
    """
    typmod = connection.execute(_EMBEDDING_TYPMOD).scalar_one_or_none()
    return None if typmod is None or typmod < 0 else int(typmod)


def vector_extension_available(connection: Connection) -> bool:
    """True when the server can `CREATE EXTENSION vector` (or already has)."""
    return connection.execute(_VECTOR_AVAILABLE).first() is not None
