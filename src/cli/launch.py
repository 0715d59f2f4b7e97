"""`ingest`'s entry point (and `python -m cli`'s): the command line, imported with the garbage
collector paused.

Importing what a command needs (SQLAlchemy, psycopg, redis, pydantic, rich) makes a few hundred
thousand objects that live as long as the process. With the collector running, it walks them
over and over while they load, and once more when the process exits; that was a sixth of a short
`ingest add`. So the collector is paused while they load, then they are frozen (left out of every
later collection) and it runs again for what the command itself makes.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Import the command line with the collector paused, then run it with `argv`."""
    gc.disable()
    try:
        from cli.main import main as run
    finally:
        gc.freeze()
        gc.enable()
    return run(argv)
