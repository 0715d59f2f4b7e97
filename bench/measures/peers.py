"""Peers: what users run instead, against what users run of ours, on the same corpus, Postgres
and embedder.

Per embedder (the hashing embedder; all-MiniLM-L6-v2 from the bundled package) and per
repetition, in rotating order:

- ours through the user's path: `python -m worker --workers N` started as a service, then
  `ingest add DIR --workspace W --wait` timed (N = 2 and 1), and with 2 workers without
  `--wait`, timed until the database shows every document finished (`bench.user_path`);
- ours through the benchmark's own enqueue (documents registered, then enqueued; 2 worker
  processes; `bench.ingestion.run_ours`);
- LangChain (community loaders with `PyPDFium2Loader`, and again with `PyPDFLoader`) and
  LlamaIndex (1 worker and `num_workers=2`), each a fresh process running the framework's
  documented pipeline into the same Postgres (`bench.peer_frameworks`), timed from its start to
  its exit. Their tables and HNSW indexes (m 16, ef_construction 64, as ours) exist before the
  timed part; every run starts from empty tables.

The peer processes run with the python of the peers' own virtualenv (`bench.peer_venv`), built
here on first use: their packages cap SQLAlchemy and pgvector below the project's.

A peer that fails is reported as failing, with its error. With the local model, the 2-worker run
is also compared with 1 worker, and with the best `model.encode` throughput on the chunks it stored,
measured in this process right after it (so under the same load).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from bench import database, peer_venv
from bench.context import Context
from bench.fleet import LOGS
from bench.ingestion import RunResult, run_ours
from bench.paths import OUT, REPO, without_repository
from bench.peer_embedders import EMBEDDERS, worker_settings
from bench.stats import Outcome, Series, Target, format_value, ratio
from bench.user_path import run_user_path

#: A peer's run counts as failed past this many seconds, plus `PEER_SECONDS_PER_DOCUMENT` for
#: each document (a LlamaIndex worker that dies leaves its pool waiting for ever).
PEER_TIMEOUT = 900.0
PEER_SECONDS_PER_DOCUMENT = 5.0
#: How much of a failing peer's error the report keeps.
ERROR_CHARACTERS = 240
EMBEDDER_NAMES = {"hashing": "hashing", "minilm": "MiniLM"}


@dataclass(frozen=True)
class Ours:
    key: str
    label: str
    workers: int
    wait: bool = True
    user_path: bool = True


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    framework: str
    workers: int = 1
    pdf_loader: str = "pypdfium2"


OURS = (
    Ours("ours-2-wait", "ours, user's path, 2 workers, --wait", 2),
    Ours("ours-2", "ours, user's path, 2 workers, without --wait", 2, wait=False),
    Ours("ours-1-wait", "ours, user's path, 1 worker, --wait", 1),
    Ours("ours-enqueue-2", "ours, benchmark enqueue, 2 workers", 2, user_path=False),
)
PEERS = (
    Peer("langchain-pypdfium2", "LangChain + PyPDFium2Loader", "langchain"),
    Peer("langchain-pypdf", "LangChain + PyPDFLoader", "langchain", pdf_loader="pypdf"),
    Peer("llamaindex-1", "LlamaIndex, 1 worker", "llamaindex"),
    Peer("llamaindex-2", "LlamaIndex, num_workers=2", "llamaindex", workers=2),
)
ROWS: tuple[Ours | Peer, ...] = (*OURS, *PEERS)


@dataclass
class EmbedderOutcomes:
    """One embedder's runs: seconds per row, and the outcomes the report's targets read."""

    embedder: str
    repetitions: int
    seconds: dict[str, Series] = field(default_factory=dict)
    chunks: dict[str, list[int]] = field(default_factory=dict)
    #: Seconds each peer's process spent importing its framework, per run.
    imports: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    peers: Outcome | None = None
    wait: Outcome | None = None
    scaling: Outcome | None = None
    encode: Outcome | None = None

    def outcomes(self) -> list[Outcome]:
        return [o for o in (self.peers, self.wait, self.scaling, self.encode) if o is not None]


@dataclass
class PeerOutcomes:
    by_embedder: list[EmbedderOutcomes]
    corpus: str = ""
    #: The peers' package versions, from their own virtualenv (`bench.peer_venv`).
    packages: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[Outcome]:
        return [o for e in self.by_embedder for o in e.outcomes()]

    def as_dict(self) -> dict[str, Any]:
        """Every row's samples, chunk counts, import times and failures, by embedder."""
        return {
            entry.embedder: {
                "repetitions": entry.repetitions,
                "seconds": {key: series.samples for key, series in entry.seconds.items()},
                "chunks": entry.chunks,
                "import_seconds": entry.imports,
                "failures": entry.failures,
            }
            for entry in self.by_embedder
        }


def new_outcomes(repetitions: dict[str, int]) -> PeerOutcomes:
    """Outcomes for each embedder measured at least once (`repetitions` by embedder)."""
    return PeerOutcomes([_new(kind, n) for kind, n in repetitions.items() if n > 0])


def _new(kind: str, repetitions: int) -> EmbedderOutcomes:
    entry = EmbedderOutcomes(kind, repetitions)
    name = EMBEDDER_NAMES[kind]
    entry.seconds = {row.key: Series(row.label, "s") for row in ROWS}
    entry.peers = Outcome(
        "peers",
        f"Peers ({name} embedder): the fastest peer's time / ours through the user's path "
        "(`ingest add --wait`, 2 workers)",
        Target(">=", 1.5, "×"),
    )
    entry.peers.series = list(entry.seconds.values())
    entry.wait = Outcome(
        "peers-wait",
        f"`ingest add --wait` ({name} embedder, 2 workers): waited time / time until the "
        "database shows every document finished",
        Target("<=", 1.05, "×"),
    )
    entry.wait.series = [entry.seconds["ours-2-wait"], entry.seconds["ours-2"]]
    if kind == "minilm":
        entry.scaling = Outcome(
            "peers-scaling",
            "Local model, user's path: docs/s with 2 workers vs 1 (time with 1 / time with 2)",
            Target(">=", 1.0, "×"),
        )
        entry.scaling.series = [entry.seconds["ours-2-wait"], entry.seconds["ours-1-wait"]]
        entry.encode = Outcome(
            "peers-encode",
            "Local model, user's path with 2 workers: chunks/s vs the best `model.encode`",
            Target(">=", 0.9, "×"),
        )
        entry.encode.add_series("ours, user's path, 2 workers, --wait", "chunks/s")
        entry.encode.add_series("model.encode, best batch size (this process)", "chunks/s")
    return entry


def measure(context: Context, outcomes: PeerOutcomes) -> None:
    """Every repetition of every embedder, rows in rotating order; then the verdicts."""
    peer_venv.ensure()
    outcomes.packages = peer_venv.versions()
    directory = documents_directory(context)
    outcomes.corpus = context.corpus.describe()
    _set_up_peers(context, directory)
    most = max((e.repetitions for e in outcomes.by_embedder), default=0)
    for repetition in range(most):
        for entry in outcomes.by_embedder:
            if repetition < entry.repetitions:
                shift = repetition % len(ROWS)
                for row in ROWS[shift:] + ROWS[:shift]:
                    _run_row(context, entry, row, directory, repetition)
    for entry in outcomes.by_embedder:
        _conclude(entry)


def documents_directory(context: Context) -> Path:
    """The corpus's documents alone (hard links, no manifest), the folder every run ingests."""
    directory = OUT / f"documents-{context.size}"
    shutil.rmtree(directory, ignore_errors=True)
    for file in context.corpus.files:
        target = directory / file.path.relative_to(context.corpus.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(file.path, target)
        except OSError:
            shutil.copyfile(file.path, target)
    return directory


def _run_row(
    context: Context, entry: EmbedderOutcomes, row: Ours | Peer, directory: Path, repetition: int
) -> None:
    if row.key in entry.failures:
        return
    name = EMBEDDER_NAMES[entry.embedder]
    print(
        f"[{time.strftime('%H:%M:%S')}] peers, {name}, {row.label}, repetition {repetition + 1}",
        flush=True,
    )
    try:
        seconds, chunks = _timed(context, entry, row, directory)
    except Exception as error:  # a failing run is a result: the row shows its error
        entry.failures[row.key] = bounded_error(error)
        print(f"  failed: {entry.failures[row.key]}", flush=True)
        return
    entry.seconds[row.key].add(seconds)
    entry.chunks.setdefault(row.key, []).append(chunks)
    print(f"  {seconds:.1f} s, {chunks} chunks", flush=True)


def _timed(
    context: Context, entry: EmbedderOutcomes, row: Ours | Peer, directory: Path
) -> tuple[float, int]:
    settings = worker_settings(entry.embedder)
    if isinstance(row, Peer):
        seconds, chunks, imported = run_peer(context, row, entry.embedder, directory)
        entry.imports.setdefault(row.key, []).append(imported)
        return seconds, chunks
    files = len(context.corpus.files)
    if row.user_path:
        label = f"user-{row.workers}{'-wait' if row.wait else ''}"
        result = run_user_path(
            context, directory, files, row.workers, wait=row.wait, label=label, **settings
        )
    else:
        result = run_ours(context, context.blobs, row.workers, "enqueue", None, **settings)
    _check(result, files)
    if entry.encode is not None and row.key == "ours-2-wait":
        _encode_beside(context, entry.encode, result)
    return result.seconds, result.chunks


def _encode_beside(context: Context, outcome: Outcome, result: RunResult) -> None:
    """The run's chunks/s, and right after it (so under the same conditions) the best
    `model.encode` chunks/s on the very chunk texts it stored."""
    from bench.measures.semantic import embedded_texts, encode_rates

    outcome.series[0].add(result.chunks_per_second)
    texts = embedded_texts(context, result.workspace)
    if texts:
        outcome.series[1].add(max(encode_rates(texts).values()))


def _check(result: RunResult, documents: int) -> None:
    ready = result.outcomes.get("ready", 0)
    if ready != documents:
        print(
            f"  note: {result.label}: {ready} of {documents} ready: {result.outcomes}", flush=True
        )


def bounded_error(error: BaseException) -> str:
    """The error's type and first line, without this repository's paths, at most
    `ERROR_CHARACTERS` long."""
    message = without_repository(str(error)).strip().splitlines()
    text = f"{type(error).__name__}: {message[0] if message else ''}"
    return text if len(text) <= ERROR_CHARACTERS else text[: ERROR_CHARACTERS - 1] + "…"


class PeerFailed(RuntimeError):
    """A peer's process exited non-zero; the message is the last line of its error output."""


def _peer_command(peer: Peer, context: Context, directory: Path, kind: str) -> list[str]:
    return [
        str(peer_venv.python()),
        "-m",
        "bench.peer_process",
        peer.framework,
        "--documents",
        str(directory),
        "--database-url",
        context.services.database_url,
        "--embedder",
        kind,
        "--workers",
        str(peer.workers),
        "--pdf-loader",
        peer.pdf_loader,
    ]


def _set_up_peers(context: Context, directory: Path) -> None:
    """Each framework's tables and HNSW index, created once, before any timed run."""
    for framework in ("llamaindex", "langchain"):
        peer = Peer(f"{framework}-set-up", framework, framework)
        command = [*_peer_command(peer, context, directory, "hashing"), "--set-up"]
        _call(command, LOGS / f"peer-set-up-{framework}.log", PEER_TIMEOUT)


def run_peer(context: Context, peer: Peer, kind: str, directory: Path) -> tuple[float, int, float]:
    """One timed run of `peer` (a process of its own, from start to exit): seconds, chunks
    stored, and the seconds its imports took."""
    _empty_peer_tables(context)
    log = LOGS / f"peer-{peer.key}-{kind}-{uuid.uuid4().hex[:6]}.log"
    started = time.perf_counter()
    timeout = PEER_TIMEOUT + PEER_SECONDS_PER_DOCUMENT * len(context.corpus.files)
    output = _call(_peer_command(peer, context, directory, kind), log, timeout)
    seconds = time.perf_counter() - started
    counts = json.loads(output.strip().splitlines()[-1])
    stored = _stored_rows(context, peer.framework)
    if stored != counts["chunks"]:
        print(f"  note: {peer.key}: {counts['chunks']} chunks made, {stored} stored", flush=True)
    return seconds, stored, float(counts["import_seconds"])


def _call(command: Sequence[str], log: Path, timeout: float) -> str:
    """Run `command`; its standard output, or `PeerFailed` with the last line of its errors
    (`subprocess.TimeoutExpired` past `timeout` seconds)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as errors:
        completed = subprocess.run(
            list(command),
            cwd=REPO,
            env=peer_venv.environment(),
            stdout=subprocess.PIPE,
            stderr=errors,
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0:
        error = error_line(log.read_text(errors="replace"))
        raise PeerFailed(error or f"exit code {completed.returncode}")
    return completed.stdout.decode(errors="replace")


def error_line(errors: str) -> str | None:
    """The exception line of the last traceback in `errors` (warnings printed after it are
    skipped), else its last non-empty line."""
    lines = [line for line in errors.splitlines() if line.strip()]
    starts = [n for n, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if starts:
        after = lines[starts[-1] + 1 :]
        raised = [line for line in after if not line[0].isspace()]
        if raised:
            return raised[0]
    return lines[-1] if lines else None


_PEER_TABLES = {"llamaindex": "data_peer_llama_index", "langchain": "langchain_pg_embedding"}


def _empty_peer_tables(context: Context) -> None:
    connection = database.connect(context.services.plain_dsn())
    for table in _PEER_TABLES.values():
        connection.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
        connection.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    connection.close()


def _stored_rows(context: Context, framework: str) -> int:
    connection = database.connect(context.services.plain_dsn())
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(_PEER_TABLES[framework]))
    row = connection.execute(query).fetchone()
    connection.close()
    return int(row[0]) if row else 0


def _conclude(entry: EmbedderOutcomes) -> None:
    """Each outcome's value from the medians, and its notes."""
    if entry.peers is not None:
        fastest = fastest_peer(entry)
        ours = ROWS.index(OURS[0])
        if fastest is not None:
            entry.peers.columns = (ours, ROWS.index(fastest))
            entry.peers.value = ratio(
                entry.seconds[fastest.key].median, entry.seconds[OURS[0].key].median
            )
        entry.peers.notes = _notes(entry)
    if entry.wait is not None:
        entry.wait.value = ratio(entry.wait.series[0].median, entry.wait.series[1].median)
    if entry.scaling is not None:
        entry.scaling.value = ratio(entry.scaling.series[1].median, entry.scaling.series[0].median)
    if entry.encode is not None:
        entry.encode.value = ratio(entry.encode.series[0].median, entry.encode.series[1].median)
    for outcome in entry.outcomes():
        if outcome.value is None and not outcome.skipped:
            outcome.skipped = _why_missing(entry)


def fastest_peer(entry: EmbedderOutcomes) -> Peer | None:
    """The peer with the smallest median time among those that ran."""
    timed = [p for p in PEERS if entry.seconds[p.key].median is not None]
    return min(timed, key=lambda p: entry.seconds[p.key].median or 0.0) if timed else None


def _why_missing(entry: EmbedderOutcomes) -> str:
    failed = "; ".join(f"{key}: {error}" for key, error in entry.failures.items())
    return f"a run it needs failed ({failed})" if failed else "a run it needs did not finish"


def _notes(entry: EmbedderOutcomes) -> list[str]:
    notes = [
        f"{EMBEDDER_NAMES[entry.embedder]}: {entry.repetitions} interleaved repetition(s); "
        "peers are timed from their process's start (imports included) to its exit, ours from "
        "`ingest add`'s start with the worker already running."
    ]
    imports = [
        f"{key} {statistics.median(values):.1f} s"
        for key, values in entry.imports.items()
        if values
    ]
    if imports:
        notes.append("Of which imports (median): " + ", ".join(imports) + ".")
    chunks = [f"{key} {statistics.median(values):,.0f}" for key, values in entry.chunks.items()]
    if chunks:
        notes.append("Chunks stored (median): " + ", ".join(chunks) + ".")
    for key, counts in entry.chunks.items():
        if len(set(counts)) > 1:
            notes.append(f"{key}: chunk counts differ between repetitions: {counts}")
    notes += [f"{key} failed: {error}" for key, error in entry.failures.items()]
    return notes


# The report's table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierRun:
    """The peers of the last run on another corpus size, from its JSON report."""

    size: str
    started: str
    outcomes: PeerOutcomes


def earlier_run(report: dict[str, Any]) -> EarlierRun | None:
    """The peers of a JSON report (`bench/out/report-<size>.json`), if it measured them."""
    peers = report.get("peers")
    if not isinstance(peers, dict) or not peers:
        return None
    entries = []
    for kind, data in peers.items():
        entry = EmbedderOutcomes(kind, int(data["repetitions"]))
        entry.seconds = {row.key: Series(row.label, "s") for row in ROWS}
        for key, samples in data["seconds"].items():
            if key in entry.seconds:
                entry.seconds[key].samples = [float(x) for x in samples]
        entry.failures = {str(k): str(v) for k, v in data.get("failures", {}).items()}
        entries.append(entry)
    corpus = str(report.get("corpus", ""))
    return EarlierRun(
        str(report["size"]), str(report.get("started", "")), PeerOutcomes(entries, corpus)
    )


def render(
    outcomes: PeerOutcomes,
    size: str,
    machine: dict[str, Any],
    earlier: EarlierRun | None = None,
) -> list[str]:
    """The `## Peers` section: seconds per corpus and embedder, each peer beside ours (and the
    rows of the last run on the other corpus size, marked as such)."""
    lines = [
        "## Peers",
        "",
        f"Wall-clock seconds to ingest the {size} corpus ({outcomes.corpus}) into the same "
        "Postgres with the same embedder, median of the repetitions shown (lower is better). "
        f"Measured on {_machine_line(machine)}. Peers run their documented pipelines "
        "(`bench/peer_frameworks.py`), each in a fresh process timed from start to exit; ours "
        "runs `ingest add` against `python -m worker --workers N` already running.",
        "",
        "| corpus, embedder | " + " | ".join(_column(row) for row in ROWS) + " |",
        "|---|" + "---|" * len(ROWS),
    ]
    lines += _rows(outcomes, size, "")
    if earlier is not None and earlier.size != size:
        lines += _rows(earlier.outcomes, earlier.size, f" (run of {earlier.started})")
    lines.append("")
    if earlier is not None and earlier.size != size:
        lines.append(f"- The {earlier.size} corpus: {earlier.outcomes.corpus}.")
    if outcomes.packages:
        listed = ", ".join(f"{name} {version}" for name, version in outcomes.packages.items())
        lines.append(
            "- The peers run in a virtualenv of their own (`bench/peers/requirements.txt`, "
            f"built by `bench/peer_venv.py`): {listed}."
        )
    for entry in outcomes.by_embedder:
        lines += [f"- {note}" for note in _table_notes(entry)]
    return [*lines, ""]


def _rows(outcomes: PeerOutcomes, size: str, when: str) -> list[str]:
    lines = []
    for entry in outcomes.by_embedder:
        cells = [_cell(entry, row) for row in ROWS]
        name = EMBEDDER_NAMES.get(entry.embedder, entry.embedder)
        label = f"{size}, {name}, median of {entry.repetitions}{when}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


_COLUMN_NAMES = {
    "ours-2-wait": "ours, user's path, 2 workers, --wait",
    "ours-2": "ours, user's path, 2 workers, without --wait",
    "ours-1-wait": "ours, user's path, 1 worker, --wait",
    "ours-enqueue-2": "ours, benchmark enqueue, 2 workers",
}


def _column(row: Ours | Peer) -> str:
    return _COLUMN_NAMES.get(row.key, row.label)


def _cell(entry: EmbedderOutcomes, row: Ours | Peer) -> str:
    if row.key in entry.failures:
        return f"fails: {entry.failures[row.key].replace('|', '/')}"
    return format_value(entry.seconds[row.key].median, "s")


def _table_notes(entry: EmbedderOutcomes) -> list[str]:
    name = EMBEDDER_NAMES[entry.embedder]
    notes = []
    for outcome in entry.outcomes():
        verdict = {True: "met", False: "not met", None: "not measured"}[outcome.met]
        measured = format_value(outcome.value, outcome.target.unit)
        notes.append(
            f"{name}: {outcome.title}: {measured} (target {outcome.target.describe()}): {verdict}"
        )
    return notes


def _machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine.get('cpu')}, {machine.get('logical_cores')} logical cores, "
        f"{machine.get('memory_gb')} GB, Python {machine.get('python')}"
    )


def peer_repetitions(hashing: int, model: int) -> dict[str, int]:
    """Repetitions by embedder, in the order they run."""
    return dict(zip(EMBEDDERS, (hashing, model), strict=True))
