"""How `ingest` prints: `rich` tables on stdout, messages and progress on stderr.

Off a terminal nothing is coloured and tables are never wrapped to 80 columns, so their output
stays one row per line for scripts.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

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
