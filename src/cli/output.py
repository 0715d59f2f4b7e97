"""How `ingest` prints: `rich` tables on stdout, messages and progress on stderr.

Off a terminal nothing is coloured and tables are never wrapped to 80 columns, so their output
stays one row per line for scripts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from domain import DocumentStatus

if TYPE_CHECKING:
    from rich.progress import Progress

#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_LINE_SECONDS = 5.0
#: The width given to a console that is not a terminal: wide enough that no table wraps.
UNWRAPPED_WIDTH = 500


def console(stream: TextIO | None = None) -> Console:
    """A console on `stream` (stdout by default), sized to the terminal when it is one."""
    stream = stream or sys.stdout
    width = None if stream.isatty() else UNWRAPPED_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def table(*headers: str, title: str | None = None) -> Table:
    """A plain table: a header, a rule under it, then rows; numeric-looking headers right-aligned
    by the caller with `justify`."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title)
    for header in headers:
        grid.add_column(header)
    return grid


class WaitDisplay(Protocol):
    """Where waiting for documents reports how far they got."""

    def update(self, counts: Mapping[DocumentStatus, int], total: int) -> None:
        """The submitted documents' counts by status, after each poll."""
        ...

    def warn(self, message: str) -> None:
        """Something the person waiting should know (no worker, gave up)."""
        ...


class SilentDisplay(WaitDisplay):
    """Reports nothing (the demo prints only its table)."""

    def update(self, counts: Mapping[DocumentStatus, int], total: int) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


class ProgressLines(WaitDisplay):
    """A line every `PROGRESS_LINE_SECONDS` (and the first at once), for logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last: float | None = None

    def update(self, counts: Mapping[DocumentStatus, int], total: int) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < PROGRESS_LINE_SECONDS:
            return
        self._last = now
        print(
            f"waiting: {_finished(counts)} of {total} finished ({_breakdown(counts)})",
            file=self._stream,
            flush=True,
        )

    def warn(self, message: str) -> None:
        print(f"ingest: {message}", file=self._stream, flush=True)


class LiveProgress(WaitDisplay):
    """A live progress bar with the counts by status, on a terminal."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("waiting", total=None)

    def update(self, counts: Mapping[DocumentStatus, int], total: int) -> None:
        self._progress.update(
            self._task, total=total, completed=_finished(counts), description=_breakdown(counts)
        )

    def warn(self, message: str) -> None:
        self._progress.console.print(f"ingest: {message}")


@contextmanager
def wait_display(stream: TextIO | None = None) -> Iterator[WaitDisplay]:
    """A live progress bar on a terminal, progress lines otherwise (stderr by default)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield ProgressLines(stream)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(stream), transient=True) as progress:
        yield LiveProgress(progress)


def _finished(counts: Mapping[DocumentStatus, int]) -> int:
    return counts[DocumentStatus.READY] + counts[DocumentStatus.FAILED]


def _breakdown(counts: Mapping[DocumentStatus, int]) -> str:
    return ", ".join(f"{status.value} {counts[status]}" for status in DocumentStatus)
