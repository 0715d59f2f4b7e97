"""Rows per second of `replace_chunks` + commit: 20,000 chunks of 384-d vectors and ~1 KB text.

Runs against the embedded Postgres in a temporary directory (or DATABASE_URL when set):
`python -m bench.db_write`. Measured twice: on the real schema, and with the HNSW index dropped,
to show how much of the cost is the index's upkeep rather than the binary COPY.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import numpy as np
import psycopg
from sqlalchemy import make_url, text

from domain import Chunk, Document, EmbeddedChunk
from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine, migrations
from infrastructure.local.postgres import start_embedded_postgres, stop_embedded_postgres

ROWS = 20_000
DIMENSION = 384
RUNS = 1


def chunks(as_vector: Callable[[np.ndarray], Sequence[float]]) -> list[EmbeddedChunk]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((ROWS, DIMENSION), dtype=np.float32)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    text = " ".join(words[i % len(words)] for i in range(180))[:1000]
    return [
        EmbeddedChunk(
            chunk=Chunk(ordinal=i, text=f"{i} {text}", token_count=180, page_start=i // 40),
            embedding=as_vector(vectors[i]),
        )
        for i in range(ROWS)
    ]


def rows_per_second(uow_factory: SqlAlchemyUnitOfWorkFactory, batch: list[EmbeddedChunk]) -> float:
    now = datetime.now(UTC)
    document = Document.register(
        workspace_id=uuid4(),
        filename="bench",
        storage_key="k",
        size_bytes=1,
        content_sha256=None,
        now=now,
    )
    with uow_factory() as uow:
        uow.documents.add(document)
        uow.commit()
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        with uow_factory() as uow:
            uow.documents.replace_chunks(document, batch)
            uow.commit()
        timings.append(time.perf_counter() - started)
    return ROWS / statistics.median(timings)


def report(
    schema: str, vectors: str, uow_factory: SqlAlchemyUnitOfWorkFactory, batch: list[EmbeddedChunk]
) -> None:
    rate = rows_per_second(uow_factory, batch)
    print(f"{schema}, {vectors}: {rate:,.0f} rows/s", flush=True)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-db-write-"))
    url = os.environ.get("DATABASE_URL") or start_embedded_postgres(root / "data")
    name = f"bench_{uuid4().hex[:8]}"
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    bench_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(bench_url, DIMENSION)
        engine = make_engine(bench_url)
        uow_factory = SqlAlchemyUnitOfWorkFactory(engine)
        arrays, lists = chunks(lambda v: v), chunks(list)
        report("real schema (HNSW cosine index)", "numpy float32", uow_factory, arrays)
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_chunks_embedding_hnsw"))
        report("without the HNSW index", "numpy float32", uow_factory, arrays)
        report("without the HNSW index", "lists of floats", uow_factory, lists)
        engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        stop_embedded_postgres(root / "data")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
