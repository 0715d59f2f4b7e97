"""Submitting files to the worker and waiting for what they become: shared by `ingest add`
and the worker's demo."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from application.ports import UnitOfWorkFactory
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import Container
from domain import Document, DocumentStatus

FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Submitted:
    """A file handed to the worker, and the document it became."""

    path: Path
    document_id: UUID
    workspace_id: UUID


def files_under(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the files inside the folders named (recursively, sorted)."""
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
    container: Container, files: Sequence[Path], workspace_id: UUID
) -> list[Submitted]:
    """Store each file, record it as a queued document and enqueue its processing."""
    submit: SubmitDocument = container.resolve(SubmitDocument)
    submitted = []
    for path in files:
        document = submit(SubmitUpload(workspace_id, path.name, path.read_bytes()))
        submitted.append(Submitted(path, document.id, workspace_id))
    return submitted


def wait_for(
    container: Container,
    submitted: Sequence[Submitted],
    *,
    timeout_seconds: float,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[Document]:
    """Poll until every submitted document is ready or failed, or the timeout passes."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        documents = load_documents(container, submitted)
        done = sum(1 for d in documents if d.status in FINISHED)
        progress(done, len(documents))
        if done == len(documents) or time.monotonic() > deadline:
            return documents
        time.sleep(0.2)


def load_documents(container: Container, submitted: Sequence[Submitted]) -> list[Document]:
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        return [uow.documents.get(s.document_id, s.workspace_id) for s in submitted]


def result_table(submitted: Sequence[Submitted], documents: Sequence[Document]) -> str:
    """A plain table: file, status, chunks, seconds (from submission to the end of processing)."""
    rows = [("file", "status", "chunks", "seconds")]
    for item, document in zip(submitted, documents, strict=True):
        seconds = (
            f"{(document.processed_at - document.created_at).total_seconds():.2f}"
            if document.processed_at and document.status in FINISHED
            else "-"
        )
        status = document.status.value
        if document.status is DocumentStatus.FAILED:
            status = f"failed: {document.error_code}"
        rows.append((item.path.name, status, str(document.chunk_count), seconds))
    return render_rows(rows)


def render_rows(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def progress_bar(stream: Any = sys.stderr) -> Callable[[int, int], None]:
    """A one-line progress bar on a terminal; silent otherwise."""

    def show(done: int, total: int) -> None:
        if not stream.isatty() or total == 0:
            return
        filled = round(30 * done / total)
        stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)
