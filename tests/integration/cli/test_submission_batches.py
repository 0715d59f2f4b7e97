"""`ingest add` submits a folder in batches (one transaction and one enqueue each): every file
keeps its place and its own answer, and a batch opens the same transactions however many files
it holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from redis import Redis
from sqlalchemy import Engine, event

from application.errors import EmptyDocument
from bootstrap import Container
from cli import submission
from cli.submission import files_under, submit_files
from infrastructure.settings import Settings


def folder_of(path: Path, count: int, empty: frozenset[int] = frozenset()) -> list[Path]:
    path.mkdir()
    for n in range(count):
        (path / f"doc-{n:03}.txt").write_text("" if n in empty else f"Document {n}.\n")
    return files_under([path])


def test_files_keep_their_order_and_answers_across_batches(
    app_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submission, "BATCH_FILES", 3)
    files = folder_of(tmp_path / "docs", 8, empty=frozenset({4}))

    submitted = submit_files(app_container, files, uuid4())

    assert [item.path for item in submitted] == files
    assert [type(item.refusal) for item in submitted] == [
        EmptyDocument if n == 4 else type(None) for n in range(8)
    ]
    queue = app_container.resolve(Settings).queue_name
    assert app_container.resolve(Redis).llen(f"rq:queue:{queue}") == 7


def test_a_batch_opens_as_many_transactions_for_thirty_files_as_for_one(
    app_container: Container, tmp_path: Path
) -> None:
    engine = app_container.resolve(Engine)
    one, thirty = folder_of(tmp_path / "one", 1), folder_of(tmp_path / "thirty", 30)

    with counting_transactions(engine) as for_one:
        submit_files(app_container, one, uuid4())
    with counting_transactions(engine) as for_thirty:
        submit_files(app_container, thirty, uuid4())

    assert for_thirty == for_one == {"checkout": 2, "commit": 1}


@contextmanager
def counting_transactions(engine: Engine) -> Iterator[Counter[str]]:
    """Connections taken from `engine`'s pool, and commits, while the block runs."""
    counts: Counter[str] = Counter()

    def checkout(*_: object) -> None:
        counts["checkout"] += 1

    def commit(*_: object) -> None:
        counts["commit"] += 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "commit", commit)
