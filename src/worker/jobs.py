"""The job functions RQ runs, by the dotted paths in `infrastructure.queue.job_paths`.

A job function only checks its JSON arguments, takes the use case from this process's runtime
and runs it: no business rules, no SQL, no adapters here.
"""

from __future__ import annotations

import logging
from uuid import UUID

from rq import get_current_job
from rq.job import Job

from application.errors import InvalidJobArgument
from application.usecases.ingestion import ProcessDocument
from infrastructure.observability import job_context
from infrastructure.queue import TRACE_CONTEXT_META_KEY
from worker import runtime

_log = logging.getLogger(__name__)


def process_document_job(
    document_id: str | None = None,
    workspace_id: str | None = None,
    *unexpected_args: object,
    **unexpected: object,
) -> dict[str, object]:
    """Process one uploaded document: `process_document_job(document_id, workspace_id)`.

    Both arguments are UUID strings. A malformed or missing argument, or any extra one, raises
    `InvalidJobArgument` naming it before anything is read. Other errors come from
    `ProcessUploadedDocument` unchanged. Returns a JSON-friendly summary of the outcome.

    With tracing on, the attempt is the span `process_document` (its stages are child spans),
    continuing the trace whose context the job's enqueuer put in its meta.
    """
    _reject_extras(unexpected_args, unexpected)
    command = ProcessDocument(
        document_id=_uuid("document_id", document_id),
        workspace_id=_uuid("workspace_id", workspace_id),
    )
    job = get_current_job()
    current = runtime.current()
    with (
        job_context(
            job_id=job.id if job else None,
            document_id=command.document_id,
            workspace_id=command.workspace_id,
        ),
        current.tracing.job_span(
            "process_document",
            carrier=_trace_context(job),
            attributes={
                "ingestion.job_id": job.id if job else "",
                "ingestion.document.id": str(command.document_id),
                "ingestion.workspace.id": str(command.workspace_id),
            },
        ),
    ):
        outcome = current.process_uploaded_document()(command)
        _log.info(
            "document %s: %s, %d chunks", outcome.document_id, outcome.status, outcome.chunk_count
        )
    return {
        "document_id": str(outcome.document_id),
        "status": outcome.status,
        "chunk_count": outcome.chunk_count,
        "embedded": outcome.embedded,
        "reused": outcome.reused,
    }


def _trace_context(job: Job | None) -> dict[str, str] | None:
    """The W3C trace context the job's enqueuer put in its meta, if any (strings only)."""
    carried = job.meta.get(TRACE_CONTEXT_META_KEY) if job else None
    if not isinstance(carried, dict):
        return None
    return {str(k): v for k, v in carried.items() if isinstance(v, str)}


def _uuid(name: str, value: object) -> UUID:
    if value is None:
        raise InvalidJobArgument(f"{name}: missing")
    if not isinstance(value, str):
        raise InvalidJobArgument(f"{name}: expected a UUID string, got {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidJobArgument(f"{name}: {value[:80]!r} is not a UUID") from None


def _reject_extras(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    if args:
        raise InvalidJobArgument(f"unexpected positional arguments: {len(args)} more than two")
    if kwargs:
        raise InvalidJobArgument(f"unexpected arguments: {', '.join(sorted(kwargs))}")
