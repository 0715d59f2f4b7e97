from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain import Document, DocumentStatus, IllegalStatusTransition
from domain.document import ALLOWED_TRANSITIONS

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_document() -> Document:
    return Document.register(
        workspace_id=uuid4(),
        filename="a.txt",
        storage_key="w/d/a.txt",
        size_bytes=3,
        content_sha256="abc",
        now=NOW,
    )


def test_a_new_document_is_queued_with_no_attempts() -> None:
    document = new_document()
    assert document.status is DocumentStatus.QUEUED
    assert document.attempts == 0


def test_the_happy_path_goes_queued_processing_ready() -> None:
    document = new_document()
    document.start_processing(NOW)
    document.mark_ready(
        chunk_count=4, embedding_model="m", content_sha256="abc", media_type="text/plain", now=NOW
    )
    assert document.status is DocumentStatus.READY
    assert (document.attempts, document.chunk_count, document.embedding_model) == (1, 4, "m")


def test_failing_keeps_a_code_and_a_reason() -> None:
    document = new_document()
    document.start_processing(NOW)
    document.mark_failed(code="corrupt_document", message="truncated", now=NOW)
    assert document.status is DocumentStatus.FAILED
    assert (document.error_code, document.error_message) == ("corrupt_document", "truncated")


@pytest.mark.parametrize("finished", [DocumentStatus.READY, DocumentStatus.FAILED])
def test_finished_documents_may_be_processed_again(finished: DocumentStatus) -> None:
    document = new_document()
    document.status = finished
    document.start_processing(NOW)
    assert document.status is DocumentStatus.PROCESSING
    assert document.error_code is None


def test_a_queued_document_cannot_become_ready_without_processing() -> None:
    document = new_document()
    with pytest.raises(IllegalStatusTransition, match="'queued' to 'ready'"):
        document.mark_ready(
            chunk_count=1, embedding_model="m", content_sha256="x", media_type=None, now=NOW
        )
    assert document.status is DocumentStatus.QUEUED


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (current, requested)
        for current in DocumentStatus
        for requested in DocumentStatus
        if requested not in ALLOWED_TRANSITIONS[current]
    ],
)
def test_every_transition_outside_the_table_is_refused(
    current: DocumentStatus, requested: DocumentStatus
) -> None:
    document = new_document()
    document.status = current
    with pytest.raises(IllegalStatusTransition):
        document._move_to(requested, NOW)
    assert document.status is current


def test_requeue_keeps_the_reason_and_releases_the_lease() -> None:
    document = new_document()
    document.start_processing(NOW)
    document.requeue(NOW, reason_code="abandoned", reason="worker died")
    assert document.status is DocumentStatus.QUEUED
    assert document.processing_started_at is None
    assert document.error_code == "abandoned"


def test_an_attempt_is_abandoned_only_when_processing_since_before_the_cutoff() -> None:
    document = new_document()
    assert not document.is_abandoned(NOW + timedelta(hours=1))
    document.start_processing(NOW)
    assert document.is_abandoned(NOW + timedelta(seconds=1))
    assert not document.is_abandoned(NOW)


def test_is_current_needs_ready_same_content_and_same_model() -> None:
    document = new_document()
    document.start_processing(NOW)
    document.mark_ready(
        chunk_count=1, embedding_model="m", content_sha256="abc", media_type=None, now=NOW
    )
    assert document.is_current("abc", "m")
    assert not document.is_current("abd", "m")
    assert not document.is_current("abc", "other")


def test_resubmitting_a_failed_document_queues_it_with_a_fresh_attempt_budget() -> None:
    document = new_document()
    document.start_processing(NOW)
    document.mark_failed(code="retries_exhausted", message="gave up", now=NOW)

    document.resubmit(NOW)

    assert document.status is DocumentStatus.QUEUED
    assert (document.attempts, document.error_code) == (0, None)
