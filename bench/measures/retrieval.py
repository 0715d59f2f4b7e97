"""Retrieval quality on real FAQ questions, and what the context line and full-text index cost.

The FAQs are ingested in-process through the project's use cases with each question taken out
of the text; each question is then asked in every search mode. hit@k: a chunk answering it is
among the first k; MRR@10: the mean of 1/rank of the first answering chunk (0 past 10). The
cost: documents/s of the whole pipeline (extract, chunk, embed, write) with MiniLM, with the
context line and the full-text column + GIN index against neither.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from bench import database
from bench.context import Context, new_queue
from bench.faq import Question, QuestionSet, build_question_set, install_missing

EMBEDDERS = ("hashing", "sentence-transformers")
CHUNK_SIZES = (128, 256)
MODES = ("vector", "text", "hybrid")
#: The configuration the worker runs with when nothing is set (semantic extra installed).
DEFAULT = ("sentence-transformers", True, 256)
TARGET_HIT5 = 0.90
TARGET_COST = 0.15
COST_DOCUMENTS = 6
COST_REPETITIONS = 3
WITH_BOTH = "context line + full-text index"
NEITHER = "neither"
_WORKSPACE = UUID("5e1ec7ed-0000-4000-8000-000000000001")


@dataclass
class Scores:
    hit1: float
    hit5: float
    mrr10: float


@dataclass
class Retrieval:
    """Everything the retrieval section reports."""

    questions: int = 0
    documents: int = 0
    skipped: str | None = None
    chunks: dict[tuple[str, bool, int], int] = field(default_factory=dict)
    scores: dict[tuple[str, bool, int, str], Scores] = field(default_factory=dict)
    docs_per_second: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure(context: Context, max_questions: int) -> Retrieval:
    result = Retrieval()
    result.skipped = install_missing()
    question_set = build_question_set(max_questions)
    if not question_set.questions:
        result.skipped = result.skipped or "no FAQ documents found"
        return result
    result.questions, result.documents = len(question_set.questions), len(question_set.documents)
    for embedder, context_line, size in _configurations():
        print(f"  retrieval: {embedder}, context {context_line}, {size} tokens", flush=True)
        search, chunks, _ = _ingest(context, question_set, embedder, context_line, size)
        result.chunks[(embedder, context_line, size)] = chunks
        for mode in MODES:
            scores = _score(search, question_set, mode)
            result.scores[(embedder, context_line, size, mode)] = scores
    _measure_cost(context, question_set, result)
    return result


def _measure_cost(context: Context, question_set: QuestionSet, result: Retrieval) -> None:
    """MiniLM pipeline documents/s on a few FAQ chapters, with the context line and the
    full-text index against neither: alternating, `COST_REPETITIONS` times each, medians."""
    names = sorted(question_set.documents, key=lambda n: len(question_set.documents[n]))
    few = QuestionSet({n: question_set.documents[n] for n in names[:COST_DOCUMENTS]}, [])
    rates: dict[str, list[float]] = {WITH_BOTH: [], NEITHER: []}
    for _ in range(COST_REPETITIONS):
        rates[WITH_BOTH].append(_ingest(context, few, "sentence-transformers", True, 256)[2])
        with database.without_full_text(context.services.plain_dsn()):
            rates[NEITHER].append(_ingest(context, few, "sentence-transformers", False, 256)[2])
    result.docs_per_second = {name: statistics.median(r) for name, r in rates.items()}
    result.notes.append(
        f"cost runs: the {COST_DOCUMENTS} smallest FAQ documents, in-process pipeline "
        f"(extract, chunk, embed, write), {COST_REPETITIONS} alternating runs each, medians; "
        + ", ".join(f"{n}: {', '.join(f'{x:.2f}' for x in r)} docs/s" for n, r in rates.items())
    )


def _configurations() -> Iterator[tuple[str, bool, int]]:
    for embedder in EMBEDDERS:
        for context_line in (True, False):
            for size in CHUNK_SIZES:
                yield embedder, context_line, size


def _ingest(
    context: Context, question_set: QuestionSet, embedder: str, context_line: bool, size: int
) -> tuple[Any, int, float]:
    """Ingest the FAQs into empty tables; the search use case, chunk count and documents/s."""
    from application.ports import JobQueue
    from application.usecases.ingestion import (
        ProcessDocument,
        ProcessUploadedDocument,
        SubmitDocument,
        SubmitUpload,
    )
    from application.usecases.search import SearchChunks
    from bootstrap import build_container
    from infrastructure.memory import InMemoryJobQueue

    with database.connect(context.services.plain_dsn()) as connection:
        database.empty_tables(connection)
    settings = context.settings(
        new_queue("retrieval"),
        EMBEDDER=embedder,
        EMBED_CONTEXT=str(context_line).lower(),
        CHUNK_MAX_TOKENS=str(size),
    )
    container = build_container(settings)
    container.register(JobQueue, instance=InMemoryJobQueue())
    submit: SubmitDocument = container.resolve(SubmitDocument)
    process: ProcessUploadedDocument = container.resolve(ProcessUploadedDocument)
    workspace = _WORKSPACE
    documents = [
        submit(SubmitUpload(workspace, name, data)) for name, data in question_set.documents.items()
    ]
    started = time.perf_counter()
    chunks = sum(process(ProcessDocument(d.id, workspace)).chunk_count for d in documents)
    rate = len(documents) / (time.perf_counter() - started)
    return container.resolve(SearchChunks), chunks, rate


def _score(search: Any, question_set: QuestionSet, mode: str) -> Scores:
    from application.ports import SearchMode
    from application.usecases.search import SearchQuery

    ranks = []
    for question in question_set.questions:
        found = search(SearchQuery(_WORKSPACE, question.text, 10, SearchMode(mode)))
        ranks.append(_first_answer(question_set, question, found))
    count = len(ranks)
    return Scores(
        hit1=sum(r == 1 for r in ranks if r) / count,
        hit5=sum(r <= 5 for r in ranks if r) / count,
        mrr10=sum(1 / r for r in ranks if r) / count,
    )


def _first_answer(question_set: QuestionSet, question: Question, found: Sequence[Any]) -> int:
    for rank, chunk in enumerate(found, start=1):
        if question_set.answered_by(question, chunk.filename, chunk.text):
            return rank
    return 0


def render(result: Retrieval) -> list[str]:
    """The `## Retrieval` section of docs/performance.md."""
    lines = ["## Retrieval", ""]
    if result.skipped and not result.scores:
        return [*lines, f"Not measured: {result.skipped}", ""]
    lines += [
        f"{result.questions} questions from {result.documents} FAQ documents (the Debian FAQ, "
        "Git's gitfaq), each taken out of the ingested text. A hit is a chunk of the question's "
        "document sharing 8 words in a row with its answer. `python -m bench --only retrieval`.",
        "",
        "| Embedder | Context line | Chunk tokens | Chunks | Mode | hit@1 | hit@5 | MRR@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (embedder, context_line, size, mode), s in result.scores.items():
        chunks = result.chunks[(embedder, context_line, size)]
        name = "MiniLM" if embedder == "sentence-transformers" else embedder
        on = "on" if context_line else "off"
        lines.append(
            f"| {name} | {on} | {size} | {chunks} | {mode} | "
            f"{s.hit1:.2f} | {s.hit5:.2f} | {s.mrr10:.2f} |"
        )
    return [*lines, "", *_targets(result), ""]


def _targets(result: Retrieval) -> list[str]:
    lines = ["Targets:", ""]
    default = [result.scores[(*DEFAULT, m)].hit5 for m in MODES if (*DEFAULT, m) in result.scores]
    if default:
        best = max(default)
        met = "met" if best >= TARGET_HIT5 else "**not met**"
        lines.append(f"- default configuration, best mode hit@5 {best:.2f} (>= 0.90): {met}")
    worse = []
    for key in {k[:3] for k in result.scores}:
        vector, text, hybrid = (result.scores[(*key, m)].hit5 for m in MODES)
        if hybrid < max(vector, text):
            worse.append(f"{key}: hybrid {hybrid:.2f} < {max(vector, text):.2f}")
    verdict = "met" if not worse else "**not met** for " + "; ".join(sorted(worse))
    lines.append(f"- hybrid never worse than the better of vector and text on hit@5: {verdict}")
    with_both = result.docs_per_second.get(WITH_BOTH)
    neither = result.docs_per_second.get(NEITHER)
    if with_both and neither:
        cost = 1 - with_both / neither
        met = "met" if cost <= TARGET_COST else "**not met**"
        lines.append(
            f"- cost of the context line and the full-text index with MiniLM: {cost:.1%} of "
            f"pipeline documents/s ({with_both:.2f} vs {neither:.2f}; <= 15%): {met}"
        )
    return [*lines, *[f"- {note}" for note in result.notes]]
