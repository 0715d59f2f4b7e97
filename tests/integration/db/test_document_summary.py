"""The documents table as a /metrics scrape reads it: counts, error codes, the oldest attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import Engine

from domain import Document, DocumentStatus
from infrastructure.db import SqlAlchemyUnitOfWorkFactory, summarize_documents

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _store(engine: Engine, *documents: Document) -> None:
    with SqlAlchemyUnitOfWorkFactory(engine)() as uow:
        for document in documents:
            uow.documents.add(document)
        uow.commit()


def _document(minutes_ago: int = 0) -> Document:
    return Document.register(
        workspace_id=uuid4(),
        filename="notes.txt",
        storage_key=f"{uuid4()}/notes.txt",
        size_bytes=10,
        content_sha256=None,
        now=NOW - timedelta(minutes=minutes_ago),
    )


def test_counts_statuses_error_codes_and_the_oldest_running_attempt(db_engine: Engine) -> None:
    waiting, retrying, failed, old_run, new_run = (_document() for _ in range(5))
    retrying.start_processing(NOW)
    retrying.requeue(NOW, reason_code="embedder_unavailable", reason="HTTP 503")
    failed.mark_failed(code="no_text", message="no text layer", now=NOW)
    old_run.start_processing(NOW - timedelta(minutes=30))
    new_run.start_processing(NOW - timedelta(minutes=1))
    _store(db_engine, waiting, retrying, failed, old_run, new_run)

    summary = summarize_documents(db_engine, timeout_seconds=2)

    assert summary.counts == {
        DocumentStatus.QUEUED: 2,
        DocumentStatus.PROCESSING: 2,
        DocumentStatus.READY: 0,
        DocumentStatus.FAILED: 1,
    }
    assert summary.errors == {
        (DocumentStatus.QUEUED, "embedder_unavailable"): 1,
        (DocumentStatus.FAILED, "no_text"): 1,
    }
    assert summary.oldest_processing_started_at == NOW - timedelta(minutes=30)


def test_an_empty_table_has_zero_counts_and_no_running_attempt(db_engine: Engine) -> None:
    summary = summarize_documents(db_engine, timeout_seconds=2)

    assert set(summary.counts.values()) == {0}
    assert summary.errors == {}
    assert summary.oldest_processing_started_at is None
