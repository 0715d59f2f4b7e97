"""`ingest search`: ask a workspace a question and see which chunks answer it.

    ingest search "how do retries work?" --workspace UUID [--k 5] [--mode vector|text|hybrid]

Prints one row per chunk, best first: rank, score, file, page, heading path and the chunk's
first line. The mode defaults to SEARCH_MODE.
"""

from __future__ import annotations

import argparse
from typing import Any
from uuid import UUID

from application.ports import FoundChunk, SearchMode
from application.usecases.search import SearchChunks, SearchQuery
from bootstrap import build_container
from cli.output import console, table
from infrastructure.settings import Settings

#: How much of a chunk's first line a row shows, in characters.
FIRST_LINE_CHARS = 80


def add_search_command(commands: Any) -> None:
    """Add `search` to the `ingest` sub-commands."""
    search = commands.add_parser("search", help="find the chunks that answer a question")
    search.add_argument("question")
    search.add_argument("--workspace", type=UUID, required=True)
    search.add_argument("--k", type=int, default=5, help="how many chunks (default 5)")
    search.add_argument(
        "--mode", type=SearchMode, choices=list(SearchMode), help="default: SEARCH_MODE"
    )
    search.set_defaults(run=_search)


def _search(settings: Settings, args: argparse.Namespace) -> int:
    search: SearchChunks = build_container(settings).resolve(SearchChunks)
    mode = args.mode or settings.search_mode
    found = search(SearchQuery(args.workspace, args.question, args.k, mode))
    if not found:
        print(f"no chunk of workspace {args.workspace} matches ({mode.value} search)")
        return 0
    results = table("rank", "score", "file", "page", "headings", "first line")
    for rank, chunk in enumerate(found, start=1):
        results.add_row(*_row(rank, chunk))
    console().print(results)
    return 0


def _row(rank: int, chunk: FoundChunk) -> tuple[str, ...]:
    return (
        str(rank),
        f"{chunk.score:.4f}",
        chunk.filename,
        _pages(chunk),
        " › ".join(chunk.headings) or "-",
        _first_line(chunk.text),
    )


def _pages(chunk: FoundChunk) -> str:
    if chunk.page_start is None:
        return "-"
    if chunk.page_end in (None, chunk.page_start):
        return str(chunk.page_start)
    return f"{chunk.page_start}-{chunk.page_end}"


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 1] + "…"
