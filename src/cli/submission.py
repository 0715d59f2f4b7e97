"""Submitting files to the worker and waiting for what they become: shared by `ingest add`
and the worker's demo."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from redis import Redis
from rich.table import Table

from application.errors import DocumentTooLarge, PermanentError, UnreadableFile
from application.ports import FinishAnnouncements, FinishWatch, UnitOfWorkFactory
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import Container
from cli.output import SilentDisplay, WaitDisplay, table
from domain import Document, DocumentStatus
from infrastructure.observability import read_queue_stats
from infrastructure.settings import Settings

FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)
#: Waiting polls at most this often, and at least this often, in seconds; in between, the
#: interval is a twentieth of the time waited so far (noticing the end costs at most 5 % more).
#: A batch of a few small documents is done in about a second: polling it every 0.05 s returns
#: within 0.05 s of its last document (a count over the batch's ids, a millisecond).
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 2.0
#: Files submitted together (one transaction, one enqueue), at most; and their bytes, at most.
BATCH_FILES = 100
BATCH_BYTES = 64 * 1024 * 1024
#: How long waiting gives a worker to show up before saying that none consumes the queue.
WORKER_GRACE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Submitted:
    """A file handed to the worker: the document it became, or why it was refused."""

    path: Path
    workspace_id: UUID
    #: The document as submitted (a new one, or the identical one the workspace already had).
    document: Document | None
    refusal: PermanentError | None = None

    @property
    def document_id(self) -> UUID | None:
        return None if self.document is None else self.document.id


def files_under(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the files inside the folders named (recursively, sorted).

    Raises `FileNotFoundError` naming the first path that is neither.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not _hidden(p))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def submit_files(
    container: Container, files: Sequence[Path], workspace_id: UUID, *, force: bool = False
) -> list[Submitted]:
    """Store each file, record it as a queued document and enqueue its processing; a file the
    workspace already has (same name, same bytes) gives its document back unless `force`.

    In batches of at most `BATCH_FILES` files and `BATCH_BYTES` bytes (one transaction and one
    enqueue per batch). File by file: a file that cannot be submitted (unreadable, empty, too
    large) is returned with its refusal and the others go on. A dependency failing
    (`TransientError`) stops the run.
    """
    submit: SubmitDocument = container.resolve(SubmitDocument)
    max_bytes = container.resolve(Settings).max_file_bytes
    submitted: list[Submitted] = []
    for batch in _batches(files):
        submitted.extend(_submit_batch(submit, batch, workspace_id, max_bytes, force))
    return submitted


def _submit_batch(
    submit: SubmitDocument, batch: Sequence[Path], workspace_id: UUID, max_bytes: int, force: bool
) -> list[Submitted]:
    """The batch's files in order, each submitted or refused."""
    read: list[bytes | PermanentError] = []
    for path in batch:
        try:
            read.append(_read(path, max_bytes))
        except PermanentError as refusal:
            read.append(refusal)
    uploads = [
        SubmitUpload(workspace_id, path.name, data, force=force)
        for path, data in zip(batch, read, strict=True)
        if isinstance(data, bytes)
    ]
    results = iter(submit.submit_many(uploads))
    outcomes = [data if isinstance(data, PermanentError) else next(results) for data in read]
    return [
        Submitted(path, workspace_id, None, outcome)
        if isinstance(outcome, PermanentError)
        else Submitted(path, workspace_id, outcome)
        for path, outcome in zip(batch, outcomes, strict=True)
    ]


def _batches(files: Sequence[Path]) -> Iterator[list[Path]]:
    """`files` in order, cut before `BATCH_FILES` files or `BATCH_BYTES` bytes (by size on
    disk; a file larger than that is a batch of its own)."""
    batch: list[Path] = []
    size = 0
    for path in files:
        length = _size(path)
        if batch and (len(batch) == BATCH_FILES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # refused when read


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; its size is checked before it is read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentTooLarge(f"the file is {size} bytes; the limit is {max_bytes}")
        return path.read_bytes()
    except OSError as e:
        raise UnreadableFile(f"cannot read it: {e.strerror or e}") from e


def wait_for(
    container: Container,
    submitted: Sequence[Submitted],
    *,
    timeout_seconds: float,
    display: WaitDisplay | None = None,
) -> list[Document]:
    """Wait until every submitted document is ready or failed, or the timeout passes; return
    them as they are then.

    The database announces each document that finishes as it commits (`FinishAnnouncements`),
    so the wait ends the moment the last one does. What it ends on is a count by status over
    the submitted ids (one query, however many), taken when the announcements say all are
    finished and every `poll_interval` seconds besides (for `display`, and should an
    announcement be missed: waiting never takes longer than polling would). The documents are
    loaded once, at the end, in one query per workspace. From `WORKER_GRACE_SECONDS` on,
    `display` is warned once if no worker is registered on Redis (read without side effects).
    """
    display = display or SilentDisplay()
    ids = [item.document_id for item in submitted if item.document_id is not None]
    announcements: FinishAnnouncements = container.resolve(FinishAnnouncements)
    started = time.monotonic()
    worker_checked = False
    with announcements.watch(ids) as watch:
        counts = _count(container, ids)
        unfinished_at_first = len(ids) - _finished(counts)
        while True:
            display.update(counts, len(ids))
            elapsed = time.monotonic() - started
            if _finished(counts) == len(ids):
                break
            if elapsed > timeout_seconds:
                display.warn(f"gave up waiting after {timeout_seconds:g} s (--timeout)")
                break
            if not worker_checked and elapsed >= WORKER_GRACE_SECONDS:
                worker_checked = True
                if idle := _no_worker(container):
                    display.warn(idle)
            _await_announcements(watch, unfinished_at_first, poll_interval(elapsed))
            counts = _count(container, ids)
    return load_documents(container, submitted)


def _await_announcements(watch: FinishWatch, expected: int, seconds: float) -> None:
    """Return once `expected` documents have been announced finished, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if watch.wait(remaining) >= expected:
            return


def _finished(counts: dict[DocumentStatus, int]) -> int:
    return sum(counts[status] for status in FINISHED)


def poll_interval(waited_seconds: float) -> float:
    """Seconds until the next poll, `waited_seconds` after the first: short while a small batch
    may finish any moment, longer as the wait grows."""
    return min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, waited_seconds / 20))


def _count(container: Container, ids: Sequence[UUID]) -> dict[DocumentStatus, int]:
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        return uow.documents.count_by_status(document_ids=ids)


def _no_worker(container: Container) -> str | None:
    """Why nothing will happen, when no worker is registered on the queues' Redis."""
    settings = container.resolve(Settings)
    stats = read_queue_stats(container.resolve(Redis), settings.queues)
    if sum(stats.workers.values()) > 0:
        return None
    return (
        f"no worker is consuming the queue {settings.queue_name}: start one with "
        "`python -m worker` (`ingest queue` shows the workers)"
    )


def load_documents(container: Container, submitted: Sequence[Submitted]) -> list[Document]:
    """The submitted documents as stored now, in submission order (refused files have none),
    read in one query per workspace."""
    ids_by_workspace: dict[UUID, list[UUID]] = {}
    for item in submitted:
        if item.document_id is not None:
            ids_by_workspace.setdefault(item.workspace_id, []).append(item.document_id)
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        found = {
            document.id: document
            for workspace_id, ids in ids_by_workspace.items()
            for document in uow.documents.get_many(ids, workspace_id)
        }
    return [found[s.document_id] for s in submitted if s.document_id in found]


def total_line(documents: Sequence[Document], elapsed_seconds: float) -> str:
    """`6 documents, 41 chunks, 0.52 MB in 3.1 s (1.94 documents/s)`."""
    chunks = sum(d.chunk_count for d in documents)
    megabytes = sum(d.size_bytes for d in documents) / 1_000_000
    rate = len(documents) / elapsed_seconds if elapsed_seconds > 0 else 0.0
    return (
        f"{_count_of(len(documents), 'document')}, {_count_of(chunks, 'chunk')}, "
        f"{megabytes:.2f} MB in {elapsed_seconds:.1f} s ({rate:.2f} documents/s)"
    )


def submitted_table(submitted: Sequence[Submitted]) -> Table:
    """Each file with its document id, or the code and reason it was refused."""
    grid = table("file", "document", "status")
    for item in submitted:
        if item.document is None:
            grid.add_row(str(item.path), "-", _refusal(item.refusal))
        else:
            grid.add_row(str(item.path), str(item.document.id), _status(item.document))
    return grid


def result_table(submitted: Sequence[Submitted], documents: Sequence[Document]) -> Table:
    """File, status, chunks and processing seconds (from the start of the last attempt to its
    end), refused files included with their code."""
    grid = table("file", "status", "chunks", "seconds")
    by_id = {d.id: d for d in documents}
    for item in submitted:
        document = by_id.get(item.document_id) if item.document_id else None
        if document is None:
            grid.add_row(item.path.name, _refusal(item.refusal), "-", "-")
            continue
        grid.add_row(
            item.path.name, _status(document), str(document.chunk_count), _seconds(document)
        )
    return grid


def any_failed(submitted: Sequence[Submitted], documents: Sequence[Document]) -> bool:
    """True when a file was refused or a document is not ready."""
    refused = any(item.refusal is not None for item in submitted)
    return refused or any(d.status is not DocumentStatus.READY for d in documents)


def _status(document: Document) -> str:
    if document.status is DocumentStatus.FAILED:
        return f"failed: {document.error_code}"
    return document.status.value


def _seconds(document: Document) -> str:
    started, ended = document.processing_started_at, document.processed_at
    if document.status not in FINISHED or started is None or ended is None:
        return "-"
    return f"{(ended - started).total_seconds():.2f}"


def _refusal(refusal: PermanentError | None) -> str:
    return "-" if refusal is None else f"{refusal.code}: {refusal}"


def _count_of(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)
