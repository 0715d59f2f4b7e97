"""End-to-end ingestion vs the baseline, scaling from 1 to 2 workers, and the stage budget.

Per repetition, in rotating order: our worker with 2 processes, the baseline with 2, our worker
with 1, and the isolated stages (read, extract, chunk, embed, write) run in this process on the
same documents. The stage budget compares the 1-process end-to-end time with the stage sum.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import database
from bench.context import Blob, Context
from bench.ingestion import RunResult, run_baseline, run_ours
from bench.stats import Outcome, Target, ratio

STAGES = ("read", "extract", "chunk", "embed", "write")


@dataclass
class PipelineOutcomes:
    e2e: Outcome
    scaling: Outcome
    budget: Outcome
    runs: list[RunResult] = field(default_factory=list)
    stage_failures: dict[str, int] = field(default_factory=dict)
    chunk_counts: dict[str, int] = field(default_factory=dict)

    def all(self) -> list[Outcome]:
        return [self.e2e, self.budget, self.scaling]


def new_outcomes(workers: int) -> PipelineOutcomes:
    e2e = Outcome(
        "e2e",
        f"End-to-end ingestion (hashing embedder), docs/s with {workers} workers: ours vs baseline",
        Target(">=", 5.0, "×"),
    )
    e2e.add_series(f"ours, {workers} workers", "docs/s")
    e2e.add_series(f"baseline (pypdf + LangChain + ORM), {workers} workers", "docs/s")
    e2e.add_series("ours, chunks/s", "chunks/s")
    e2e.add_series("baseline, chunks/s", "chunks/s")
    scaling = Outcome(
        "scaling", "Scaling: docs/s with 2 worker processes vs 1", Target(">=", 1.7, "×")
    )
    scaling.add_series("ours, 2 workers", "docs/s")
    scaling.add_series("ours, 1 worker", "docs/s")
    budget = Outcome(
        "budget",
        "Stage budget: end-to-end time (1 worker) / sum of isolated stage times",
        Target("<=", 1.25, "×"),
    )
    budget.add_series("end-to-end, 1 worker", "s")
    budget.add_series("sum of isolated stages", "s")
    for stage in STAGES:
        budget.add_series(f"stage: {stage}", "s")
    return PipelineOutcomes(e2e, scaling, budget)


def measure(
    context: Context,
    outcomes: PipelineOutcomes,
    workers: int,
    repetition: int,
    with_baseline: bool = True,
) -> None:
    """One repetition; the (slow) baseline only while `with_baseline`."""
    steps: list[Callable[[], None]] = [
        lambda: _ours(context, outcomes, workers),
        lambda: _ours_single(context, outcomes),
        lambda: _stages(context, outcomes),
    ]
    if with_baseline:
        steps.insert(1, lambda: _baseline(context, outcomes, workers))
    shift = repetition % len(steps)
    for step in steps[shift:] + steps[:shift]:
        step()
    _update(outcomes)


def _ours(context: Context, outcomes: PipelineOutcomes, workers: int) -> None:
    result = run_ours(context, context.blobs, workers)
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.e2e.series[0].add(result.docs_per_second)
    outcomes.e2e.series[2].add(result.chunks_per_second)
    outcomes.scaling.series[0].add(result.docs_per_second)


def _baseline(context: Context, outcomes: PipelineOutcomes, workers: int) -> None:
    result = run_baseline(context, context.blobs, workers)
    outcomes.runs.append(result)
    outcomes.e2e.series[1].add(result.docs_per_second)
    outcomes.e2e.series[3].add(result.chunks_per_second)


def _ours_single(context: Context, outcomes: PipelineOutcomes) -> None:
    result = run_ours(context, context.blobs, 1, label="ours-1")
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.scaling.series[1].add(result.docs_per_second)
    outcomes.budget.series[0].add(result.seconds)
    connection = database.connect(context.services.plain_dsn())
    outcomes.chunk_counts = database.chunk_counts(connection, result.workspace_id)
    connection.close()


def _stages(context: Context, outcomes: PipelineOutcomes) -> None:
    totals, failures = isolated_stage_times(context, context.blobs)
    outcomes.stage_failures = failures
    outcomes.budget.series[1].add(sum(totals.values()))
    for n, stage in enumerate(STAGES):
        outcomes.budget.series[2 + n].add(totals[stage])


def _update(outcomes: PipelineOutcomes) -> None:
    median = lambda o, i: o.series[i].median  # noqa: E731
    outcomes.e2e.value = ratio(median(outcomes.e2e, 0), median(outcomes.e2e, 1))
    outcomes.scaling.value = ratio(median(outcomes.scaling, 0), median(outcomes.scaling, 1))
    outcomes.budget.value = ratio(median(outcomes.budget, 0), median(outcomes.budget, 1))


def _check_complete(result: RunResult) -> None:
    if result.documents != result.outcomes.get("ready", 0):
        print(f"  note: {result.label}: outcomes {result.outcomes}", flush=True)


def isolated_stage_times(
    context: Context, blobs: Sequence[Blob]
) -> tuple[dict[str, float], dict[str, int]]:
    """Each stage timed alone, in this process, with the adapters the worker is built with."""
    from application.ports import BlobStorage, Chunker, Embedder, TextExtractor, UnitOfWorkFactory
    from infrastructure.container import build_container

    settings = context.settings()
    container = build_container(settings)
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    pieces = _Pieces(
        container.resolve(BlobStorage),
        container.resolve(TextExtractor),
        container.resolve(Chunker),
        container.resolve(Embedder),
        uow_factory,
    )
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    connection.close()
    workspace = uuid.uuid4()
    ids = database.register_documents(uow_factory, workspace, blobs)
    totals = dict.fromkeys(STAGES, 0.0)
    failures: dict[str, int] = {}
    for document_id, blob in zip(ids, blobs, strict=True):
        try:
            _time_one(_StageClock(totals), pieces, settings, blob, (document_id, workspace))
        except Exception as error:  # a failing document costs what it cost until it failed
            code = getattr(error, "code", type(error).__name__)
            failures[code] = failures.get(code, 0) + 1
    container.resolve(_engine_type()).dispose()
    return totals, failures


@dataclass(frozen=True)
class _Pieces:
    storage: Any
    extractor: Any
    chunker: Any
    embedder: Any
    uow_factory: Any


def _time_one(
    clock: _StageClock, pieces: _Pieces, settings: Any, blob: Blob, ids: tuple[uuid.UUID, ...]
) -> None:
    from domain import EmbeddedChunk

    data = clock.time("read", lambda: pieces.storage.get(blob.key, settings.max_file_bytes))
    text = clock.time("extract", lambda: pieces.extractor.extract(data, blob.filename))
    chunks = clock.time("chunk", lambda: pieces.chunker.split(text))
    vectors = clock.time("embed", lambda: pieces.embedder.embed([c.text for c in chunks]))
    embedded = [EmbeddedChunk(c, v) for c, v in zip(chunks, vectors, strict=True)]
    clock.time("write", lambda: _write(pieces.uow_factory, *ids, embedded))


def _write(uow_factory: Any, document_id: uuid.UUID, workspace: uuid.UUID, chunks: list) -> None:
    with uow_factory() as uow:
        document = uow.documents.get(document_id, workspace)
        uow.documents.replace_chunks(document, chunks)
        uow.commit()


def _engine_type() -> type:
    from sqlalchemy import Engine

    return Engine


class _StageClock:
    def __init__(self, totals: dict[str, float]) -> None:
        self._totals = totals

    def time(self, stage: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return work()
        finally:
            self._totals[stage] += time.perf_counter() - started
