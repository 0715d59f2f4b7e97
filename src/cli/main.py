"""`ingest`: migrate the schema, submit files, and look at documents and the queue.

    ingest migrate
    ingest add PATH... --workspace UUID [--wait]
    ingest status [DOCUMENT_ID] [--workspace UUID]
    ingest queue
    ingest requeue --failed [--workspace UUID]
    ingest search "QUESTION" --workspace UUID [--k 5] [--mode vector|text|hybrid]
    ingest services start|stop|status

It reads the same settings as the worker (environment and `.env`) and attaches to the same
embedded services when DATABASE_URL / REDIS_URL are unset.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from redis import Redis

from application.errors import IngestionError
from application.ports import UnitOfWorkFactory
from application.usecases.ingestion import RequeueFailed, RequeueFailedDocuments
from bootstrap import StartupError, build_container, migrate
from cli import services as embedded_services
from cli.search import add_search_command
from cli.submission import (
    files_under,
    progress_bar,
    render_rows,
    result_table,
    submit_files,
    wait_for,
)
from domain import Document, DocumentStatus
from infrastructure.observability import read_queue_stats
from infrastructure.settings import ConfigurationError, Settings, load_settings


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
    add_search_command(commands)
    services = commands.add_parser(
        "services", help="keep the embedded Postgres and Redis up for outside clients"
    )
    actions = services.add_subparsers(dest="action", required=True)
    actions.add_parser("start", help="start them; print the export lines").set_defaults(
        run=lambda settings, _args: embedded_services.start(settings)
    )
    actions.add_parser("stop", help="stop what `start` kept up").set_defaults(
        run=lambda settings, _args: embedded_services.stop(settings)
    )
    actions.add_parser("status", help="what runs where, and who uses it").set_defaults(
        run=lambda settings, _args: embedded_services.status(settings)
    )
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
