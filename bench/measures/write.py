"""Chunk write: rows/s of the repository's `replace_chunks` vs a raw psycopg binary COPY."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgvector.psycopg import register_vector

from bench import database
from bench.context import WORKSPACE, Blob, Context
from bench.stats import Outcome, Target, ratio

_COPY = (
    "COPY chunks (document_id, workspace_id, ordinal, content, token_count, page_start, page_end,"
    " metadata, content_sha256, embedding, context, embedded_sha256)"
    " FROM STDIN WITH (FORMAT BINARY)"
)
_TYPES = [
    *("uuid", "uuid", "int4", "text", "int4", "int4", "int4", "jsonb", "text", "vector"),
    *("text", "text"),
]


@dataclass
class Batch:
    """The embedded chunks of one document, written in one transaction."""

    blob: Blob
    chunks: list[Any]


def new_outcome(rows: int) -> Outcome:
    outcome = Outcome(
        "write",
        f"Chunk write: {rows:,} rows/s, `replace_chunks` vs raw binary COPY",
        Target(">=", 0.8, "×"),
    )
    outcome.add_series("ours (replace_chunks + commit)", "rows/s")
    outcome.add_series("raw psycopg binary COPY", "rows/s")
    outcome.add_series("ours without the full-text column and GIN index", "rows/s")
    return outcome


def prepare(context: Context, rows: int) -> list[Batch]:
    """Chunks of corpus documents (chunked and embedded once, untimed), about `rows` of them."""
    from application.ports import Chunker, Embedder, TextExtractor
    from bootstrap import build_container
    from domain import EmbeddedChunk

    container = build_container(context.settings())
    extractor, chunker = container.resolve(TextExtractor), container.resolve(Chunker)
    embedder: Embedder = container.resolve(Embedder)
    batches: list[Batch] = []
    total = 0
    for blob in sorted(context.blobs, key=lambda b: b.file.size):
        try:
            chunks = chunker.split(extractor.extract(blob.path.read_bytes(), blob.filename))
        except Exception:
            continue
        vectors = embedder.embed([c.embedded_text for c in chunks])
        pairs = zip(chunks, vectors, strict=True)
        batches.append(Batch(blob, [EmbeddedChunk(c, v) for c, v in pairs]))
        total += len(chunks)
        if total >= rows:
            break
    return batches


def measure(context: Context, outcome: Outcome, batches: Sequence[Batch], repetition: int) -> None:
    runners = [_ours, _raw, _ours_without_full_text]
    shift = repetition % len(runners)
    for runner in runners[shift:] + runners[:shift]:
        outcome.series[runners.index(runner)].add(runner(context, batches))
    outcome.value = ratio(outcome.series[0].median, outcome.series[1].median)
    without = outcome.series[2].median
    if without and outcome.series[0].median:
        cost = 1 - outcome.series[0].median / without
        outcome.notes[:] = [f"the full-text column and its GIN index cost {cost:.0%} of rows/s"]


def _ours_without_full_text(context: Context, batches: Sequence[Batch]) -> float:
    with database.without_full_text(context.services.plain_dsn()):
        return _ours(context, batches)


def _documents(context: Context, batches: Sequence[Batch]) -> tuple[Any, list[Any]]:
    from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine

    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    connection.close()
    engine = make_engine(context.services.database_url)
    factory = SqlAlchemyUnitOfWorkFactory(engine, embedding_dimension=384)
    workspace = WORKSPACE  # the workspace the corpus was uploaded under
    ids = database.register_documents(factory, workspace, [b.blob for b in batches])
    with factory() as uow:
        documents = [uow.documents.get(i, workspace) for i in ids]
    return (engine, factory), documents


def _ours(context: Context, batches: Sequence[Batch]) -> float:
    (engine, factory), documents = _documents(context, batches)
    rows = sum(len(b.chunks) for b in batches)
    started = time.perf_counter()
    for document, batch in zip(documents, batches, strict=True):
        with factory() as uow:
            uow.documents.replace_chunks(document, batch.chunks)
            uow.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return rows / elapsed


def _raw(context: Context, batches: Sequence[Batch]) -> float:
    (engine, _), documents = _documents(context, batches)
    engine.dispose()
    rows = sum(len(b.chunks) for b in batches)
    with database.connect(context.services.plain_dsn()) as connection:
        connection.autocommit = False
        register_vector(connection)
        connection.commit()
        started = time.perf_counter()
        for document, batch in zip(documents, batches, strict=True):
            with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
                copy.set_types(_TYPES)
                for embedded in batch.chunks:
                    chunk = embedded.chunk
                    copy.write_row(
                        (
                            document.id,
                            document.workspace_id,
                            chunk.ordinal,
                            chunk.text,
                            chunk.token_count,
                            chunk.page_start,
                            chunk.page_end,
                            dict(chunk.metadata),
                            chunk.content_sha256,
                            embedded.embedding,
                            chunk.context,
                            chunk.embedded_sha256,
                        )
                    )
            connection.commit()
        elapsed = time.perf_counter() - started
    return rows / elapsed
