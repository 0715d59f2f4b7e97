"""End-to-end ingestion vs the baseline, scaling from 1 to 2 workers, and the stage budget.

Per repetition, in rotating order: our worker with 2 processes, the baseline with 2, our worker
with 1, the same two runs of ours with WORKER_MODE=inline, and the isolated stages (read,
extract, chunk, embed, write) run in this process on the same documents. The stage budget
compares the 1-process end-to-end time with the stage sum.

With a slice (`--size full`), only the end-to-end comparison runs on the whole corpus; scaling,
the stage budget and their inline twins run on every n-th document, which keeps a full run
within ten minutes. The baseline (and the inline end-to-end run beside it) may run in fewer
repetitions than ours: it is by far the slowest run.

Each row is measured in the default WORKER_MODE (pool) and reports inline beside it (a note and
its own series). Beside the baseline, the end-to-end row also runs WORKER_MODE=fork, and notes
the default's docs/s against inline's and fork's.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench import database
from bench.context import WORKSPACE, Blob, Context
from bench.ingestion import RunResult, run_baseline, run_ours
from bench.stats import Outcome, Target, format_value, ratio
from domain import EmbeddedChunk

STAGES = ("read", "extract", "chunk", "embed", "write")
#: Where the WORKER_MODE=inline runs go among each outcome's series.
INLINE_E2E = 4
FORK_E2E = 5
INLINE_SCALING = (2, 3)
INLINE_BUDGET = 2 + len(STAGES)


@dataclass
class PipelineOutcomes:
    e2e: Outcome
    scaling: Outcome
    budget: Outcome
    runs: list[RunResult] = field(default_factory=list)
    stage_failures: dict[str, int] = field(default_factory=dict)
    chunk_counts: dict[str, int] = field(default_factory=dict)
    slice_note: str | None = None

    def all(self) -> list[Outcome]:
        return [self.e2e, self.budget, self.scaling]


def new_outcomes(workers: int) -> PipelineOutcomes:
    e2e = Outcome(
        "e2e",
        f"End-to-end ingestion (hashing embedder), docs/s with {workers} workers: ours vs baseline",
        Target(">=", 5.0, "×"),
    )
    e2e.add_series(f"ours, WORKER_MODE=pool (default), {workers} workers", "docs/s")
    e2e.add_series(f"baseline (pypdf + LangChain + ORM), {workers} workers", "docs/s")
    e2e.add_series("ours, chunks/s", "chunks/s")
    e2e.add_series("baseline, chunks/s", "chunks/s")
    e2e.add_series(f"ours, WORKER_MODE=inline, {workers} workers", "docs/s")
    e2e.add_series(f"ours, WORKER_MODE=fork, {workers} workers", "docs/s")
    scaling = Outcome(
        "scaling", "Scaling: docs/s with 2 worker processes vs 1", Target(">=", 1.7, "×")
    )
    scaling.add_series("ours, WORKER_MODE=pool (default), 2 workers", "docs/s")
    scaling.add_series("ours, WORKER_MODE=pool (default), 1 worker", "docs/s")
    scaling.add_series("ours, WORKER_MODE=inline, 2 workers", "docs/s")
    scaling.add_series("ours, WORKER_MODE=inline, 1 worker", "docs/s")
    budget = Outcome(
        "budget",
        "Stage budget: end-to-end time (1 worker) / sum of isolated stage times",
        Target("<=", 1.25, "×"),
    )
    budget.add_series("end-to-end, 1 worker, WORKER_MODE=pool (default)", "s")
    budget.add_series("sum of isolated stages", "s")
    for stage in STAGES:
        budget.add_series(f"stage: {stage}", "s")
    budget.add_series("end-to-end, 1 worker, WORKER_MODE=inline", "s")
    return PipelineOutcomes(e2e, scaling, budget)


def measure(
    context: Context,
    outcomes: PipelineOutcomes,
    workers: int,
    repetition: int,
    with_baseline: bool = True,
    slice_every: int = 1,
) -> None:
    """One repetition; the (slow) baseline only while `with_baseline`; scaling and the stage
    budget on every `slice_every`-th document."""
    whole = context.blobs
    part = size_slice(whole, slice_every)
    sliced = len(part) < len(whole)
    steps: list[Callable[[], None]] = [lambda: _ours(context, outcomes, workers, whole, not sliced)]
    if with_baseline:
        steps.append(lambda: _baseline(context, outcomes, workers, whole))
        steps.append(lambda: _ours_fork(context, outcomes, workers, whole))
    if with_baseline or not sliced:
        steps.append(lambda: _ours_inline(context, outcomes, workers, whole, not sliced))
    if sliced:
        steps.append(lambda: _scaling_only(context, outcomes, workers, part))
    steps += [
        lambda: _ours_single(context, outcomes, part),
        lambda: _ours_inline_single(context, outcomes, part),
        lambda: _stages(context, outcomes, part),
    ]
    shift = repetition % len(steps)
    for step in steps[shift:] + steps[:shift]:
        step()
    outcomes.slice_note = _slice_note(part) if sliced else None
    _update(outcomes)


def size_slice(blobs: Sequence[Blob], every: int) -> list[Blob]:
    """One document in `every`, picked from the middle of each run of `every` documents in size
    order (so the slice keeps the corpus's mix of sizes), in the corpus's own order."""
    if every <= 1:
        return list(blobs)
    by_size = sorted(range(len(blobs)), key=lambda n: (blobs[n].file.size, blobs[n].filename))
    picked = set(by_size[every // 2 :: every])
    return [blob for n, blob in enumerate(blobs) if n in picked]


def _slice_note(part: Sequence[Blob]) -> str:
    megabytes = sum(b.file.size for b in part) / 1e6
    return f"Measured on a slice of the corpus: {len(part)} documents, {megabytes:.1f} MB."


def _ours(
    context: Context, outcomes: PipelineOutcomes, workers: int, blobs: Sequence[Blob], scaling: bool
) -> None:
    result = run_ours(context, blobs, workers)
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.e2e.series[0].add(result.docs_per_second)
    outcomes.e2e.series[2].add(result.chunks_per_second)
    if scaling:
        outcomes.scaling.series[0].add(result.docs_per_second)


def _baseline(
    context: Context, outcomes: PipelineOutcomes, workers: int, blobs: Sequence[Blob]
) -> None:
    result = run_baseline(context, blobs, workers)
    outcomes.runs.append(result)
    outcomes.e2e.series[1].add(result.docs_per_second)
    outcomes.e2e.series[3].add(result.chunks_per_second)


def _scaling_only(
    context: Context, outcomes: PipelineOutcomes, workers: int, blobs: Sequence[Blob]
) -> None:
    """The 2-worker runs of both modes on the slice that the 1-worker runs process."""
    for label, mode, index in (
        ("ours-slice", "pool", 0),
        ("ours-inline-slice", "inline", INLINE_SCALING[0]),
    ):
        result = run_ours(context, blobs, workers, label=label, WORKER_MODE=mode)
        _check_complete(result)
        outcomes.runs.append(result)
        outcomes.scaling.series[index].add(result.docs_per_second)


def _ours_single(context: Context, outcomes: PipelineOutcomes, blobs: Sequence[Blob]) -> None:
    result = run_ours(context, blobs, 1, label="ours-1")
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.scaling.series[1].add(result.docs_per_second)
    outcomes.budget.series[0].add(result.seconds)
    connection = database.connect(context.services.plain_dsn())
    outcomes.chunk_counts = database.chunk_counts(connection, result.workspace)
    connection.close()


def _ours_inline(
    context: Context, outcomes: PipelineOutcomes, workers: int, blobs: Sequence[Blob], scaling: bool
) -> None:
    result = run_ours(context, blobs, workers, label="ours-inline", WORKER_MODE="inline")
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.e2e.series[INLINE_E2E].add(result.docs_per_second)
    if scaling:
        outcomes.scaling.series[INLINE_SCALING[0]].add(result.docs_per_second)


def _ours_fork(
    context: Context, outcomes: PipelineOutcomes, workers: int, blobs: Sequence[Blob]
) -> None:
    result = run_ours(context, blobs, workers, label="ours-fork", WORKER_MODE="fork")
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.e2e.series[FORK_E2E].add(result.docs_per_second)


def _ours_inline_single(
    context: Context, outcomes: PipelineOutcomes, blobs: Sequence[Blob]
) -> None:
    result = run_ours(context, blobs, 1, label="ours-inline-1", WORKER_MODE="inline")
    _check_complete(result)
    outcomes.runs.append(result)
    outcomes.scaling.series[INLINE_SCALING[1]].add(result.docs_per_second)
    outcomes.budget.series[INLINE_BUDGET].add(result.seconds)


def _stages(context: Context, outcomes: PipelineOutcomes, blobs: Sequence[Blob]) -> None:
    totals, failures = isolated_stage_times(context, blobs)
    outcomes.stage_failures = failures
    outcomes.budget.series[1].add(sum(totals.values()))
    for n, stage in enumerate(STAGES):
        outcomes.budget.series[2 + n].add(totals[stage])


def _update(outcomes: PipelineOutcomes) -> None:
    report_both_modes(outcomes.e2e, default=(0, 1), inline=(INLINE_E2E, 1))
    report_both_modes(outcomes.scaling, default=(0, 1), inline=INLINE_SCALING)
    report_both_modes(outcomes.budget, default=(0, 1), inline=(INLINE_BUDGET, 1))
    outcomes.e2e.notes.append(_against_other_modes(outcomes.e2e))
    ours, baseline = (len(outcomes.e2e.series[n].samples) for n in (0, 1))
    if baseline < ours:
        outcomes.e2e.notes.append(
            f"The baseline (and the inline run beside it) ran in {baseline} of the {ours} "
            "repetitions: it is by far the slowest run."
        )
    busy = _busy_cores_note(outcomes.runs, sliced=outcomes.slice_note is not None)
    if busy:
        outcomes.scaling.notes.append(busy)
    if outcomes.slice_note:
        outcomes.scaling.notes.append(outcomes.slice_note)
        outcomes.budget.notes.append(outcomes.slice_note)


def _busy_cores_note(runs: Sequence[RunResult], *, sliced: bool) -> str | None:
    """How many of the machine's cores each scaling run kept busy (median per run kind)."""
    two = ("ours-slice", "ours-inline-slice") if sliced else ("ours", "ours-inline")
    kinds = {"pool": (two[0], "ours-1"), "inline": (two[1], "ours-inline-1")}
    parts = []
    for mode, (pair, single) in kinds.items():
        medians = [_median_busy(runs, label) for label in (single, pair)]
        if None not in medians:
            parts.append(f"{mode} {medians[0]:.2f} with 1 worker, {medians[1]:.2f} with 2")
    if not parts:
        return None
    cores = psutil.cpu_count() or 1
    return f"Cores kept busy (of {cores}, Postgres and Redis included): " + "; ".join(parts) + "."


def _median_busy(runs: Sequence[RunResult], label: str) -> float | None:
    values = [r.busy_cores for r in runs if r.label == label and r.busy_cores is not None]
    return statistics.median(values) if values else None


def _against_other_modes(e2e: Outcome) -> str:
    """The default mode's docs/s against inline's and fork's, on the same documents."""
    pool = e2e.series[0].median
    inline = ratio(pool, e2e.series[INLINE_E2E].median)
    fork = ratio(pool, e2e.series[FORK_E2E].median)
    return (
        f"WORKER_MODE=pool (default) docs/s vs inline: {format_value(inline, '×')}, "
        f"vs fork: {format_value(fork, '×')}."
    )


def report_both_modes(
    outcome: Outcome, *, default: tuple[int, int], inline: tuple[int, int]
) -> None:
    """The row's value from the default mode's (pool's) series pair; a note gives inline's."""
    default_value = ratio(outcome.series[default[0]].median, outcome.series[default[1]].median)
    inline_value = ratio(outcome.series[inline[0]].median, outcome.series[inline[1]].median)
    unit = outcome.target.unit
    outcome.value, outcome.columns = default_value, default
    outcome.notes = [
        f"Default WORKER_MODE=pool; with WORKER_MODE=inline: {format_value(inline_value, unit)}."
    ]


def _check_complete(result: RunResult) -> None:
    if result.documents != result.outcomes.get("ready", 0):
        print(f"  note: {result.label}: outcomes {result.outcomes}", flush=True)


def isolated_stage_times(
    context: Context, blobs: Sequence[Blob]
) -> tuple[dict[str, float], dict[str, int]]:
    """Each stage timed alone, in this process, with the adapters the worker is built with."""
    from application.ports import BlobStorage, Chunker, Embedder, TextExtractor, UnitOfWorkFactory
    from bootstrap import build_container

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
    workspace = WORKSPACE  # the workspace the corpus was uploaded under
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
    clock: _StageClock,
    pieces: _Pieces,
    settings: Any,
    blob: Blob,
    ids: tuple[uuid.UUID, uuid.UUID],
) -> None:
    data = clock.time("read", lambda: pieces.storage.get(blob.key, settings.max_file_bytes))
    text = clock.time("extract", lambda: pieces.extractor.extract(data, blob.filename))
    chunks = clock.time("chunk", lambda: pieces.chunker.split(text))
    vectors = clock.time("embed", lambda: pieces.embedder.embed([c.text for c in chunks]))
    embedded = [EmbeddedChunk(c, v) for c, v in zip(chunks, vectors, strict=True)]
    clock.time("write", lambda: _write(pieces.uow_factory, *ids, embedded))


def _write(
    uow_factory: Any, document_id: uuid.UUID, workspace: uuid.UUID, chunks: list[EmbeddedChunk]
) -> None:
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
