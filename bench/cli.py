"""`python -m bench [--size quick|full] [--corpus DIR] [--database-url URL] [--redis-url URL]`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.corpus import build_corpus, load_corpus
from bench.runner import BLOCKS, DEFAULT_BLOCKS, SIZES, Plan, run


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    corpus = load_corpus(args.corpus) if args.corpus else build_corpus(args.size)
    defaults = SIZES[args.size]
    blocks = _blocks(args.only, with_peers=args.with_peers)
    unknown = set(blocks) - set(BLOCKS)
    if unknown:
        raise SystemExit(f"--only: unknown measurement(s) {sorted(unknown)}; use {BLOCKS}")
    plan = Plan(
        size=args.size,
        repetitions=args.repetitions or defaults["repetitions"],
        baseline_repetitions=min(
            args.repetitions or defaults["repetitions"], defaults["baseline_repetitions"]
        ),
        noop_jobs=args.jobs or defaults["noop_jobs"],
        write_rows=defaults["write_rows"],
        semantic_chunks=defaults["semantic_chunks"],
        semantic_repetitions=defaults["semantic_repetitions"],
        retrieval_questions=defaults["retrieval_questions"],
        text_mb=args.text_mb or defaults["text_mb"],
        slice_every=defaults["slice_every"],
        workers=args.workers,
        peer_repetitions=_given(args.peer_repetitions, defaults["peer_repetitions"]),
        peer_model_repetitions=_given(
            args.peer_model_repetitions, defaults["peer_model_repetitions"]
        ),
        blocks=blocks,
        profile=args.profile,
        database_url=args.database_url,
        redis_url=args.redis_url,
        command="python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    return run(plan, corpus)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--corpus", type=Path, help="use the documents under DIR instead")
    parser.add_argument("--database-url", help="Postgres with pgvector (default: embedded)")
    parser.add_argument("--redis-url", help="a Redis server (default: redis-server started here)")
    parser.add_argument("--repetitions", type=int, help="interleaved repetitions (default by size)")
    parser.add_argument("--jobs", type=int, help="no-op jobs per overhead drain (default by size)")
    parser.add_argument("--text-mb", type=int, help="size of the memory run's text file")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for e2e runs")
    parser.add_argument(
        "--peer-repetitions",
        type=int,
        help="interleaved repetitions of the peers with the hashing embedder (default by size)",
    )
    parser.add_argument(
        "--peer-model-repetitions",
        type=int,
        help="the same with all-MiniLM-L6-v2; 0 leaves the model out (default by size)",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated subset of {','.join(BLOCKS)} (default: {','.join(DEFAULT_BLOCKS)})",
    )
    parser.add_argument(
        "--with-peers",
        action="store_true",
        help="the default measurements and the peers (about 20 minutes more on quick)",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy profile of a worker: when a pipeline target is missed (auto)",
    )
    return parser


def _blocks(only: str | None, *, with_peers: bool) -> tuple[str, ...]:
    """The measurements to run: `--only`'s, else the default ones (and the peers if asked)."""
    if only is None:
        return (*DEFAULT_BLOCKS, "peers") if with_peers else DEFAULT_BLOCKS
    return tuple(only.split(","))


def _given(value: int | None, default: int) -> int:
    return default if value is None else value
