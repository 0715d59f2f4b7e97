"""`ingest`: migrate the schema, submit files, and look at documents and the queue.

    ingest migrate
    ingest add PATH... --workspace UUID [--wait] [--force]
    ingest status [DOCUMENT_ID] [--workspace UUID] [--failed]
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
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rich.table import Table

from application.errors import IngestionError
from application.ports import UnitOfWorkFactory
from application.usecases.ingestion import RequeueFailed, RequeueFailedDocuments
from bootstrap import (
    Container,
    StartupError,
    build_container,
    check_database,
    check_redis,
    describe_services,
    migrate,
)
from cli import services as embedded_services
from cli.output import console, table, wait_display
from cli.search import add_search_command
from cli.submission import (
    any_failed,
    files_under,
    result_table,
    submit_files,
    submitted_table,
    total_line,
    wait_for,
)
from domain import Document, DocumentStatus
from infrastructure.observability import read_queue_stats
from infrastructure.redaction import masked_url
from infrastructure.settings import ConfigurationError, Settings, load_settings


class UsageError(Exception):
    """The command line asks for something impossible; the message says what to change."""


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    _announce(settings)
    print(f"schema at {migrate(settings)}")
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        files = files_under(args.paths)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from e
    container = _connect(settings, database=True, redis=True)
    started = time.monotonic()
    submitted = submit_files(container, files, args.workspace, force=args.force)
    if not args.wait:
        console().print(submitted_table(submitted))
        return 1 if any(item.refusal for item in submitted) else 0
    with wait_display() as display:
        documents = wait_for(container, submitted, timeout_seconds=args.timeout, display=display)
    console().print(result_table(submitted, documents))
    print(total_line(documents, time.monotonic() - started))
    return 1 if any_failed(submitted, documents) else 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    if args.document_id is not None and args.workspace is None:
        raise UsageError("ingest status DOCUMENT_ID needs --workspace (the document's workspace)")
    container = _connect(settings, database=True)
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        if args.document_id is not None:
            print(_describe(uow.documents.get(args.document_id, args.workspace)))
            return 0
        if args.failed:
            failed = uow.documents.list_by_status(DocumentStatus.FAILED, args.workspace)
            console().print(_failed_table(failed))
            return 0
        counts = uow.documents.count_by_status(args.workspace)
        codes = uow.documents.count_failed_by_error_code(args.workspace)
    out = console()
    out.print(_counts_table(("status", "documents"), {s.value: n for s, n in counts.items()}))
    if codes:
        out.print()
        out.print(_counts_table(("error code", "failed documents"), codes))
    return 0


def _counts_table(headers: tuple[str, str], counts: Mapping[str, int]) -> Table:
    grid = table(*headers)
    for name, count in counts.items():
        grid.add_row(name, str(count))
    return grid


def _failed_table(failed: Sequence[Document]) -> Table:
    grid = table("document", "file", "error code", "message")
    for document in failed:
        grid.add_row(
            str(document.id), document.filename, document.error_code, document.error_message
        )
    return grid


def _queue(settings: Settings, _args: argparse.Namespace) -> int:
    redis: Redis = _connect(settings, redis=True).resolve(Redis)
    stats = read_queue_stats(redis, settings.queues)
    columns = ("queued", "started", "scheduled", "deferred", "failed")
    grid = table("queue", *columns)
    for name in settings.queues:
        grid.add_row(name, *(str(stats.jobs[(name, column)]) for column in columns))
    console().print(grid)
    states = ", ".join(f"{count} {state}" for state, count in sorted(stats.workers.items()))
    print(f"workers: {sum(stats.workers.values())}" + (f" ({states})" if states else ""))
    now = datetime.now(UTC)
    for name, enqueued_at in stats.head_enqueued_at.items():
        print(f"next job in {name} has waited {(now - enqueued_at).total_seconds():.0f} s")
    return 0


def _requeue(settings: Settings, args: argparse.Namespace) -> int:
    if not args.failed:
        raise UsageError("say what to requeue: ingest requeue --failed")
    container = _connect(settings, database=True, redis=True)
    requeue: RequeueFailedDocuments = container.resolve(RequeueFailedDocuments)
    requeued = requeue(RequeueFailed(workspace_id=args.workspace, limit=args.limit))
    for document_id in requeued:
        print(document_id)
    print(f"requeued {len(requeued)} failed documents", file=sys.stderr)
    return 0


def _announce(settings: Settings) -> None:
    """Say first which services this command uses, so a second set is never made silently."""
    print(describe_services(settings), file=sys.stderr)


def _connect(settings: Settings, *, database: bool = False, redis: bool = False) -> Container:
    """The container, once the dependencies the command needs answer (and the schema is at
    head); raises `StartupError` naming the one at fault.

    These commands never embed: the embedder (a model) is built only if something uses it."""
    _announce(settings)
    container = build_container(settings, defer_model=True)
    if redis:
        check_redis(container)
    if database:
        check_database(container, vectors=False)
    return container


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
    add.add_argument(
        "--force", action="store_true", help="submit files the workspace already has again"
    )
    add.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
    add.set_defaults(run=_add)
    status = commands.add_parser(
        "status", help="one document, counts by status and error code, or the failed documents"
    )
    status.add_argument("document_id", nargs="?", type=UUID)
    status.add_argument("--workspace", type=UUID)
    status.add_argument(
        "--failed", action="store_true", help="list failed documents with their reasons"
    )
    status.set_defaults(run=_status)
    commands.add_parser(
        "queue", help="jobs by state, workers by state, how long the next job has waited"
    ).set_defaults(run=_queue)
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
    except UsageError as e:
        print(f"ingest: {e}", file=sys.stderr)
        return 2
    except (StartupError, IngestionError) as e:
        print(f"ingest: {e}", file=sys.stderr)
        return 1
    except RedisError as e:
        print(f"ingest: REDIS_URL: {masked_url(settings.redis_url)}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
