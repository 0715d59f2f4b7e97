"""`ingest`: migrate the schema, submit files, and look at documents and the queue.

    ingest migrate
    ingest add PATH... --workspace UUID [--wait]
    ingest status [DOCUMENT_ID] [--workspace UUID]
    ingest queue
    ingest requeue --failed [--workspace UUID]

It reads the same settings as the worker (environment and `.env`) and attaches to the same
embedded services when DATABASE_URL / REDIS_URL are unset.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import punq
from redis import Redis

from application.errors import IngestionError
from application.ports import UnitOfWorkFactory
from application.usecases.ingestion import (
    RequeueFailed,
    RequeueFailedDocuments,
    SubmitDocument,
    SubmitUpload,
)
from domain import Document, DocumentStatus
from infrastructure.container import StartupError, build_container, migrate
from infrastructure.observability import read_queue_stats
from infrastructure.settings import ConfigurationError, Settings, load_settings

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
    container: punq.Container, files: Sequence[Path], workspace_id: UUID
) -> list[Submitted]:
    """Store each file, record it as a queued document and enqueue its processing."""
    submit: SubmitDocument = container.resolve(SubmitDocument)
    submitted = []
    for path in files:
        document = submit(SubmitUpload(workspace_id, path.name, path.read_bytes()))
        submitted.append(Submitted(path, document.id, workspace_id))
    return submitted


def wait_for(
    container: punq.Container,
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


def load_documents(container: punq.Container, submitted: Sequence[Submitted]) -> list[Document]:
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


# Commands ----------------------------------------------------------------------------------


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    print(f"schema at {migrate(settings)}")
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    container = build_container(settings)
    submitted = submit_files(container, files_under(args.paths), args.workspace)
    if not args.wait:
        for item in submitted:
            print(f"{item.document_id}  {item.path}")
        return 0
    documents = wait_for(
        container, submitted, timeout_seconds=args.timeout, progress=progress_bar()
    )
    print(result_table(submitted, documents))
    return 0 if all(d.status is DocumentStatus.READY for d in documents) else 1


def _status(settings: Settings, args: argparse.Namespace) -> int:
    container = build_container(settings)
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        if args.document_id is not None:
            if args.workspace is None:
                raise SystemExit("ingest status DOCUMENT_ID needs --workspace")
            print(_describe(uow.documents.get(args.document_id, args.workspace)))
            return 0
        counts = uow.documents.count_by_status(args.workspace)
    rows = [("status", "documents")]
    rows += [(status.value, str(count)) for status, count in counts.items()]
    print(render_rows(rows))
    return 0


def _queue(settings: Settings, _args: argparse.Namespace) -> int:
    redis: Redis = build_container(settings).resolve(Redis)
    stats = read_queue_stats(redis, settings.queues)
    columns = ("queued", "started", "scheduled", "deferred", "failed")
    rows: list[tuple[str, ...]] = [("queue", *columns)]
    for name in settings.queues:
        rows.append((name, *(str(stats.jobs[(name, column)]) for column in columns)))
    print(render_rows(rows))
    states = ", ".join(f"{count} {state}" for state, count in sorted(stats.workers.items()))
    print(f"workers: {sum(stats.workers.values())}" + (f" ({states})" if states else ""))
    return 0


def _requeue(settings: Settings, args: argparse.Namespace) -> int:
    if not args.failed:
        raise SystemExit("say what to requeue: ingest requeue --failed")
    requeue: RequeueFailedDocuments = build_container(settings).resolve(RequeueFailedDocuments)
    requeued = requeue(RequeueFailed(workspace_id=args.workspace, limit=args.limit))
    for document_id in requeued:
        print(document_id)
    print(f"requeued {len(requeued)} failed documents", file=sys.stderr)
    return 0


def _describe(document: Document) -> str:
    fields = [
        ("id", str(document.id)),
        ("workspace", str(document.workspace_id)),
        ("file", document.filename),
        ("status", document.status.value),
        ("attempts", str(document.attempts)),
        ("chunks", str(document.chunk_count)),
        (
            "error",
            f"{document.error_code}: {document.error_message}" if document.error_code else "-",
        ),
        ("updated", document.updated_at.isoformat()),
    ]
    return "\n".join(f"{name:<10} {value}" for name, value in fields)


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest", description="Feed and inspect the ingestion worker."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the database schema to head").set_defaults(
        run=_migrate
    )
    add = commands.add_parser("add", help="submit files or folders for processing")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--workspace", type=UUID, required=True)
    add.add_argument("--wait", action="store_true", help="wait and print a result table")
    add.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
    add.set_defaults(run=_add)
    status = commands.add_parser("status", help="one document, or counts by status")
    status.add_argument("document_id", nargs="?", type=UUID)
    status.add_argument("--workspace", type=UUID)
    status.set_defaults(run=_status)
    commands.add_parser("queue", help="queue depth, workers, failed jobs").set_defaults(run=_queue)
    requeue = commands.add_parser("requeue", help="process failed documents again")
    requeue.add_argument("--failed", action="store_true")
    requeue.add_argument("--workspace", type=UUID)
    requeue.add_argument("--limit", type=int, default=1000, help="at most this many (1000)")
    requeue.set_defaults(run=_requeue)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.run(settings, args))
    except ConfigurationError as e:
        print(f"configuration error:\n{e}", file=sys.stderr)
        return 2
    except (StartupError, IngestionError, FileNotFoundError) as e:
        print(f"ingest: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
