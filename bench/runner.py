"""One benchmark run: corpus, services, interleaved repetitions, profile, report."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import baseline
from bench.context import Context
from bench.corpus import Corpus
from bench.machine import describe_machine
from bench.measures import memory, overhead, peers, pipeline, remote, retrieval, semantic, write
from bench.merge import merged_with_earlier
from bench.paths import OUT, REPORT_MARKDOWN, shown, without_repository
from bench.profile import Profile
from bench.report import render_markdown, section, spliced, write_json
from bench.services import running_services
from bench.stats import Outcome

BLOCKS = ("overhead", "pipeline", "write", "semantic", "memory", "retrieval", "remote", "peers")
#: What runs without `--only`: everything but the peers, which take about 20 minutes on the quick
#: corpus (their own virtualenv's build aside), ten times the rest (`--with-peers` adds them).
DEFAULT_BLOCKS = tuple(block for block in BLOCKS if block != "peers")
#: The report's rows, by their outcomes' keys.
ORDER = (
    *("overhead", "warmstart", "e2e", "budget", "semantic", "write", "scaling", "memory"),
    *("remote-limit", "remote-429s", "remote-vs-today", "remote-outage", "remote-connections"),
    *("peers", "peers-wait", "peers-scaling", "peers-encode"),
)


@dataclass(frozen=True)
class Plan:
    size: str
    repetitions: int
    baseline_repetitions: int
    noop_jobs: int
    write_rows: int
    semantic_chunks: int
    semantic_repetitions: int
    retrieval_questions: int
    text_mb: int
    slice_every: int
    workers: int
    #: Interleaved repetitions of the peers measure with the hashing embedder and with the model.
    peer_repetitions: int
    peer_model_repetitions: int
    blocks: tuple[str, ...]
    profile: str
    database_url: str | None
    redis_url: str | None
    command: str


SIZES: dict[str, dict[str, int]] = {
    "quick": {
        "repetitions": 3,
        "baseline_repetitions": 3,
        "noop_jobs": 200,
        "write_rows": 3000,
        "semantic_chunks": 100,
        "semantic_repetitions": 1,
        "retrieval_questions": 200,
        "text_mb": 10,
        "slice_every": 1,
        "peer_repetitions": 3,
        "peer_model_repetitions": 1,
    },
    "full": {
        "repetitions": 3,
        "baseline_repetitions": 1,
        "noop_jobs": 200,
        "write_rows": 5000,
        "semantic_chunks": 150,
        "semantic_repetitions": 3,
        "retrieval_questions": 200,
        "text_mb": 100,
        "slice_every": 12,
        "peer_repetitions": 1,
        "peer_model_repetitions": 0,
    },
}


def run(plan: Plan, corpus: Corpus) -> int:
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    started = time.perf_counter()
    machine = describe_machine()
    print(f"corpus: {corpus.describe()} in {shown(corpus.root)}", flush=True)
    outcomes = _outcomes(plan)
    profile: Profile | None = None
    found: retrieval.Retrieval | None = None
    with running_services(plan.database_url, plan.redis_url, dimension=384) as services:
        baseline.create_tables(services.plain_dsn())
        context = Context(plan.size, corpus, services, plan.repetitions)
        context.upload_corpus()
        _repeat(plan, context, outcomes)
        _after(plan, context, outcomes)
        if "retrieval" in plan.blocks:
            print(f"[{time.strftime('%H:%M:%S')}] retrieval", flush=True)
            found = retrieval.measure(context, plan.retrieval_questions)
        if _wants_profile(plan, outcomes):
            profile = _profile(context, plan.slice_every)
    ordered = _ordered(outcomes)
    markdown = render_markdown(
        command=plan.command,
        started=started_at,
        seconds=time.perf_counter() - started,
        machine=machine,
        corpus=corpus.describe(),
        repetitions=plan.repetitions,
        outcomes=ordered,
        profile=profile,
    )
    REPORT_MARKDOWN.parent.mkdir(parents=True, exist_ok=True)
    previous = REPORT_MARKDOWN.read_text(encoding="utf-8") if REPORT_MARKDOWN.exists() else ""
    markdown = with_earlier_rows(plan.blocks, markdown, previous)
    markdown = _with_retrieval(plan, markdown, found)
    if "peers" in outcomes:
        peers_section = peers.render(
            outcomes["peers"], plan.size, machine, _earlier_peers(plan.size)
        )
    else:  # the peers are left out by default: their last table stays
        peers_section = section(previous, "## Peers")
    markdown = spliced(markdown, "## Peers", peers_section)
    REPORT_MARKDOWN.write_text(markdown, encoding="utf-8")
    write_json(
        OUT / f"report-{plan.size}.json",
        {
            "size": plan.size,
            "started": started_at,
            "machine": machine,
            "corpus": corpus.describe(),
            "plan": plan.__dict__,
            "outcomes": [o.as_dict() for o in ordered],
            "runs": [r.__dict__ for r in outcomes["pipeline"].runs]
            if "pipeline" in outcomes
            else [],
            "profile": _profile_dict(profile),
            "peers": outcomes["peers"].as_dict() if "peers" in outcomes else None,
            "peer_packages": outcomes["peers"].packages if "peers" in outcomes else None,
        },
    )
    print(markdown.split("## Machine")[0], flush=True)
    json_report = shown(OUT / f"report-{plan.size}.json")
    print(f"report: {shown(REPORT_MARKDOWN)} and {json_report}", flush=True)
    return 0


def with_earlier_rows(blocks: tuple[str, ...], markdown: str, previous: str) -> str:
    """The report of a run of `blocks`: as rendered when they include every default measurement,
    else with the rows of `previous` (the last report) that it did not measure, and its profile
    when the run left the pipeline (whose rows the profile explains) out."""
    if set(DEFAULT_BLOCKS) <= set(blocks):
        return markdown
    markdown = merged_with_earlier(markdown, previous, ORDER)
    if "pipeline" in blocks:
        return markdown
    return spliced(markdown, "## Profile", section(previous, "## Profile"), before="## Reproduce")


def _earlier_peers(size: str) -> peers.EarlierRun | None:
    """The peers of the last run on the other corpus size, shown beside this run's."""
    for other in SIZES:
        path = OUT / f"report-{other}.json"
        if other != size and path.exists():
            return peers.earlier_run(json.loads(path.read_text(encoding="utf-8")))
    return None


def _with_retrieval(plan: Plan, markdown: str, found: retrieval.Retrieval | None) -> str:
    """The report with the retrieval section: measured now, else kept from the last report; a
    run of the retrieval block alone changes only that section of the last report."""
    previous = REPORT_MARKDOWN.read_text(encoding="utf-8") if REPORT_MARKDOWN.exists() else ""
    kept = retrieval.render(found) if found else section(previous, "## Retrieval")
    if plan.blocks == ("retrieval",) and previous:
        markdown = previous
    return spliced(markdown, "## Retrieval", kept)


def _outcomes(plan: Plan) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    if "overhead" in plan.blocks:
        outcomes["overhead"] = overhead.new_outcomes(plan.noop_jobs)
    if "pipeline" in plan.blocks:
        outcomes["pipeline"] = pipeline.new_outcomes(plan.workers)
    if "write" in plan.blocks:
        outcomes["write"] = write.new_outcome(plan.write_rows)
    if "semantic" in plan.blocks:
        outcomes["semantic"] = semantic.new_outcome(plan.semantic_chunks)
    if "memory" in plan.blocks:
        outcomes["memory"] = memory.new_outcome(plan.text_mb)
    if "remote" in plan.blocks:
        outcomes["remote"] = remote.new_outcomes()
    if "peers" in plan.blocks:
        outcomes["peers"] = peers.new_outcomes(
            peers.peer_repetitions(plan.peer_repetitions, plan.peer_model_repetitions)
        )
    return outcomes


def _repeat(plan: Plan, context: Context, outcomes: dict[str, Any]) -> None:
    batches = write.prepare(context, plan.write_rows) if "write" in outcomes else []
    steps: list[tuple[str, Callable[[int], None]]] = []
    if "overhead" in outcomes:
        steps.append(
            (
                "overhead",
                lambda r: overhead.measure(context, outcomes["overhead"], plan.noop_jobs, r),
            )
        )
    if "pipeline" in outcomes:
        steps.append(
            (
                "pipeline",
                lambda r: pipeline.measure(
                    context,
                    outcomes["pipeline"],
                    plan.workers,
                    r,
                    with_baseline=r < plan.baseline_repetitions,
                    slice_every=plan.slice_every,
                ),
            )
        )
    if "write" in outcomes:
        steps.append(("write", lambda r: write.measure(context, outcomes["write"], batches, r)))
    for repetition in range(plan.repetitions):
        shift = repetition % max(1, len(steps))
        for name, step in steps[shift:] + steps[:shift]:
            _guarded(name, repetition, outcomes, partial(step, repetition))


def _after(plan: Plan, context: Context, outcomes: dict[str, Any]) -> None:
    if "semantic" in outcomes:

        def semantic_step() -> None:
            counts = outcomes["pipeline"].chunk_counts if "pipeline" in outcomes else {}
            if not counts:
                counts = {b.filename: max(1, b.file.size // 2500) for b in context.blobs}
            blobs = semantic.subset(context.blobs, counts, plan.semantic_chunks)
            semantic.measure(context, outcomes["semantic"], blobs, plan.semantic_repetitions)

        _guarded("semantic", 0, outcomes, semantic_step)
    if "memory" in outcomes:
        _guarded(
            "memory", 0, outcomes, lambda: memory.measure(context, outcomes["memory"], plan.text_mb)
        )
    if "remote" in outcomes:
        _guarded(
            "remote", 0, outcomes, lambda: remote.measure(context, outcomes["remote"], plan.size)
        )
    if "peers" in outcomes:
        _guarded("peers", 0, outcomes, lambda: peers.measure(context, outcomes["peers"]))


def _guarded(
    name: str, repetition: int, outcomes: dict[str, Any], step: Callable[[], None]
) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {name}, repetition {repetition + 1}", flush=True)
    try:
        step()
    except Exception as error:
        traceback.print_exc()
        message = without_repository(str(error))
        reason = f"{type(error).__name__}: {message.splitlines()[0][:200] if message else ''}"
        for outcome in _as_list(outcomes[name]):
            outcome.skipped = reason


def _as_list(entry: Any) -> list[Outcome]:
    grouped = isinstance(
        entry,
        pipeline.PipelineOutcomes
        | overhead.OverheadOutcomes
        | remote.RemoteOutcomes
        | peers.PeerOutcomes,
    )
    return entry.all() if grouped else [entry]


def _ordered(outcomes: dict[str, Any]) -> list[Outcome]:
    flat = [o for entry in outcomes.values() for o in _as_list(entry)]
    return sorted(flat, key=lambda o: ORDER.index(o.key))


def _wants_profile(plan: Plan, outcomes: dict[str, Any]) -> bool:
    if plan.profile == "never" or "pipeline" not in outcomes:
        return False
    if plan.profile == "always":
        return True
    return any(o.met is False for o in outcomes["pipeline"].all())


def _profile(context: Context, slice_every: int) -> Profile | None:
    """py-spy on a 1-worker run over the slice the stage budget uses."""
    from bench import profile as py_spy
    from bench.ingestion import run_ours

    if not py_spy.available():
        print("py-spy is not installed: no profile", flush=True)
        return None
    output = OUT / f"profile-{context.size}.txt"
    output.unlink(missing_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] profiling a 1-worker run with py-spy", flush=True)
    run_ours(
        context,
        pipeline.size_slice(context.blobs, slice_every),
        1,
        label="profile",
        watch=lambda procs: py_spy.recording(procs[0].pid, output),
    )
    return py_spy.summarise(Path(output))


def _profile_dict(profile: Profile | None) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {
        "samples": profile.samples,
        "output": shown(profile.output) if profile.output else None,
        "project_inclusive": profile.top_project(30),
        "self": profile.top_self(30),
    }
