"""Waiting for a batch costs the database the same whatever the batch's size: one count by
status per poll over the submitted ids, and the documents loaded once, in one query, at the end
(not one query per document per poll). The wait ends when the database announces the last
document finished, not at the next poll."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, event

from application.ports import UnitOfWorkFactory
from bootstrap import Container
from cli import submission
from cli.output import WaitDisplay
from cli.submission import (
    MAX_POLL_SECONDS,
    MIN_POLL_SECONDS,
    Submitted,
    poll_interval,
    submit_files,
    wait_for,
)
from domain import Document, DocumentStatus


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement `engine` sends while the block runs."""
    sent: list[str] = []

    def record(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def submit(container: Container, folder: Path, count: int, workspace: UUID) -> list[Submitted]:
    folder.mkdir()
    for n in range(count):
        (folder / f"note-{n:03}.txt").write_text(f"Note number {n}.\n")
    return submit_files(container, sorted(folder.iterdir()), workspace)


def one_poll(container: Container, submitted: list[Submitted]) -> list[str]:
    with counting_statements(container.resolve(Engine)) as sent:
        wait_for(container, submitted, timeout_seconds=0)  # polls once, then loads
    return sent


def test_one_poll_and_the_final_load_cost_the_same_for_one_document_or_forty(
    app_container: Container, tmp_path: Path
) -> None:
    workspace = uuid4()
    one = submit(app_container, tmp_path / "one", 1, workspace)
    forty = submit(app_container, tmp_path / "forty", 40, workspace)

    for_one, for_forty = one_poll(app_container, one), one_poll(app_container, forty)

    assert len(for_forty) == len(for_one) <= 3, for_forty


def test_waiting_reports_each_document_as_stored(app_container: Container, tmp_path: Path) -> None:
    workspace = uuid4()
    submitted = submit(app_container, tmp_path / "batch", 5, workspace)
    failed = submitted[2].document
    assert failed is not None
    uow_factory = app_container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        stored = uow.documents.get(failed.id, workspace)
        stored.mark_failed(code="too_large", message="too big", now=stored.updated_at)
        uow.documents.save(stored)
        uow.commit()

    documents = wait_for(app_container, submitted, timeout_seconds=0)

    assert [d.id for d in documents] == [s.document_id for s in submitted]
    assert [d.status for d in documents] == [
        DocumentStatus.FAILED if n == 2 else DocumentStatus.QUEUED for n in range(5)
    ]
    assert documents[2].error_code == "too_large"


@pytest.mark.parametrize(
    ("waited", "expected"),
    [(0.0, MIN_POLL_SECONDS), (1.0, MIN_POLL_SECONDS), (10.0, 0.5), (600.0, MAX_POLL_SECONDS)],
)
def test_polls_space_out_as_the_wait_grows(waited: float, expected: float) -> None:
    assert poll_interval(waited) == pytest.approx(expected)


class FinishingDisplay(WaitDisplay):
    """Marks `document` failed in its own transaction when shown the first count: the last
    document of the batch finishes while the wait is under way."""

    def __init__(self, container: Container, document: Document) -> None:
        self._uow_factory = container.resolve(UnitOfWorkFactory)
        self._document = document
        self.updates: list[int] = []

    def update(self, counts: Mapping[DocumentStatus, int], total: int) -> None:
        self.updates.append(counts[DocumentStatus.FAILED])
        if len(self.updates) == 1:
            with self._uow_factory() as uow:
                stored = uow.documents.get(self._document.id, self._document.workspace_id)
                stored.mark_failed(code="too_large", message="too big", now=stored.updated_at)
                uow.documents.save(stored)
                uow.commit()

    def warn(self, message: str) -> None:
        raise AssertionError(message)


@pytest.mark.timeout(120)
def test_the_wait_ends_on_the_last_documents_announcement_not_the_next_poll(
    app_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (submitted,) = submit(app_container, tmp_path / "one", 1, uuid4())
    assert submitted.document is not None
    display = FinishingDisplay(app_container, submitted.document)
    monkeypatch.setattr(submission, "poll_interval", lambda _waited: 3600.0)

    (document,) = wait_for(app_container, [submitted], timeout_seconds=3600, display=display)

    assert document.status is DocumentStatus.FAILED
    assert display.updates == [0, 1]
