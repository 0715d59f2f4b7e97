"""Embedding-bound efficiency: pipeline chunks/s with all-MiniLM-L6-v2 vs `model.encode` alone.

The pipeline runs one worker process (the model uses every core) in the worker's default mode
(WORKER_MODE unset, so `pool`: the model is loaded and run in the executor process, never forked);
`model.encode` runs in this process on the very texts the pipeline embedded (each stored chunk's
context line and text, as `Chunk.embedded_text` joins them), at batch sizes 8, 16 and 32 (64
was always slower on a CPU), and the best batch size is the reference.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from bench import database
from bench.context import Blob, Context
from bench.ingestion import run_ours
from bench.peer_embedders import model_path
from bench.stats import Outcome, Target, ratio

BATCH_SIZES = (8, 16, 32)


def new_outcome(chunks: int) -> Outcome:
    outcome = Outcome(
        "semantic",
        "Embedding-bound: pipeline chunks/s vs `model.encode` "
        f"(all-MiniLM-L6-v2, ~{chunks} chunks)",
        Target(">=", 0.9, "×"),
    )
    outcome.add_series("pipeline, 1 worker, WORKER_MODE unset (pool)", "chunks/s")
    outcome.add_series("model.encode, best batch size", "chunks/s")
    for size in BATCH_SIZES:
        outcome.add_series(f"model.encode, batch {size}", "chunks/s")
    return outcome


def subset(blobs: Sequence[Blob], chunk_counts: dict[str, int], target: int) -> list[Blob]:
    """Documents (no PDFs over 1 MB) whose hashing-run chunk counts add up to about `target`."""
    picked: list[Blob] = []
    total = 0
    for blob in blobs:
        count = chunk_counts.get(blob.filename, 0)
        if count == 0 or blob.file.size > 1_000_000 or total + count > target * 1.2:
            continue
        picked.append(blob)
        total += count
        if total >= target:
            break
    return picked


def measure(context: Context, outcome: Outcome, blobs: Sequence[Blob], repetitions: int) -> None:
    path = model_path()
    texts: list[str] = []
    for _ in range(repetitions):
        result = run_ours(
            context,
            blobs,
            1,
            label="semantic",
            EMBEDDER="sentence-transformers",
            EMBEDDING_MODEL_PATH=path,
        )
        outcome.series[0].add(result.chunks_per_second)
        texts = embedded_texts(context, result.workspace)
        outcome.notes.append(
            f"pipeline run: {result.documents} documents, {result.chunks} chunks in "
            f"{result.seconds:.1f}s, outcomes {result.outcomes}"
        )
        _encode_all(outcome, texts)
    best = max(s.median or 0.0 for s in outcome.series[2:])
    outcome.series[1].samples = [best]
    outcome.value = ratio(outcome.series[0].median, best)


def embedded_texts(context: Context, workspace_id: UUID) -> list[str]:
    """What a run of ours embedded for each chunk it stored in `workspace_id` (the context line,
    a newline and the text, or the text alone: `Chunk.embedded_text`), in document order."""
    from domain import Chunk

    connection = database.connect(context.services.plain_dsn())
    rows = connection.execute(
        "SELECT ordinal, content, token_count, context FROM chunks WHERE workspace_id = %s"
        " ORDER BY document_id, ordinal",
        (workspace_id,),
    ).fetchall()
    connection.close()
    return [
        Chunk(ordinal, content, tokens, context=context).embedded_text
        for ordinal, content, tokens, context in rows
    ]


_model: Any = None


def _encode_all(outcome: Outcome, texts: list[str]) -> None:
    for n, rate in enumerate(encode_rates(texts).values()):
        outcome.series[2 + n].add(rate)


def encode_rates(texts: list[str]) -> dict[int, float]:
    """`model.encode` chunks/s on `texts` in this process, for each of `BATCH_SIZES`."""
    global _model
    if _model is None:
        from sentence_transformers import SentenceTransformer

        _model = SentenceTransformer(model_path(), device="cpu")
        _model.encode(texts[:8], batch_size=8)
    rates: dict[int, float] = {}
    for size in BATCH_SIZES:
        started = time.perf_counter()
        _model.encode(texts, batch_size=size)
        rates[size] = len(texts) / (time.perf_counter() - started)
    return rates
