from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from application.errors import (
    BlobNotFound,
    CorruptDocument,
    DependencyUnavailable,
    DocumentNotFound,
    DocumentTooLarge,
    EmbedderRejected,
    EmbedderThrottled,
    EmbedderUnavailable,
    InvalidStorageKey,
    NoExtractableText,
    OutOfMemory,
    PermanentError,
    RetriesExhausted,
    WorkspaceMismatch,
)
from application.ports import Stage
from application.usecases.ingestion import ProcessingOutcome
from domain import DocumentStatus

from .conftest import SAMPLE, World


def test_a_submitted_document_becomes_ready_with_its_chunks(world: World) -> None:
    document = world.submit(SAMPLE)

    outcome = world.process(document)

    stored = world.stored(document)
    assert isinstance(outcome, ProcessingOutcome)
    assert outcome.status == "ready"
    assert stored.status is DocumentStatus.READY
    assert stored.attempts == 1
    chunks = world.db.chunks[document.id]
    assert [c.chunk.ordinal for c in chunks] == list(range(len(chunks)))
    assert stored.chunk_count == len(chunks) > 1
    assert all(len(c.embedding) == 32 for c in chunks)
    assert stored.embedding_model == world.embedder.model_id


def test_every_stage_is_timed_in_order(world: World) -> None:
    world.process(world.submit(SAMPLE))
    assert world.telemetry.stages == [
        Stage.READ,
        Stage.EXTRACT,
        Stage.CHUNK,
        Stage.EMBED,
        Stage.WRITE,
    ]
    assert world.telemetry.outcomes["ready"] == 1


def test_the_document_is_processing_while_embedding_and_no_write_is_pending(world: World) -> None:
    document = world.submit(SAMPLE)
    seen: list[tuple[DocumentStatus, int]] = []
    world.embedder.on_embed = lambda: seen.append((world.stored(document).status, world.db.commits))
    commits_before = world.db.commits

    world.process(document)

    assert seen == [(DocumentStatus.PROCESSING, commits_before + 1)]
    assert world.db.commits == commits_before + 2


def test_rerunning_an_unchanged_document_is_a_no_op(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    commits = world.db.commits
    embedded = len(world.embedder.embedded_texts)

    outcome = world.process(document)

    assert isinstance(outcome, ProcessingOutcome)
    assert outcome.status == "unchanged"
    assert world.db.commits == commits
    assert len(world.embedder.embedded_texts) == embedded
    assert world.extractor.calls == 1
    assert world.stored(document).attempts == 1


def test_a_changed_file_embeds_only_the_changed_chunks(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    world.embedder.embedded_texts.clear()
    changed = SAMPLE + "\n\nA brand new closing paragraph."
    world.storage.put(document.storage_key, changed.encode())

    outcome = world.process(document)

    assert isinstance(outcome, ProcessingOutcome)
    assert world.embedder.embedded_texts == ["A brand new closing paragraph."]
    assert outcome.reused == outcome.chunk_count - 1
    assert world.telemetry.cache_hits == outcome.reused
    assert world.stored(document).status is DocumentStatus.READY


def test_a_new_embedder_model_re_embeds_everything(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    world.embedder.embedded_texts.clear()
    world.db.documents[document.id].embedding_model = "another-model:32"

    outcome = world.process(document)

    assert isinstance(outcome, ProcessingOutcome)
    assert outcome.reused == 0
    assert len(world.embedder.embedded_texts) == world.stored(document).chunk_count
    assert world.stored(document).embedding_model == world.embedder.model_id


def test_identical_chunks_are_embedded_once(world: World) -> None:
    document = world.submit("same words here\n\nsame words here\n\nsame words here")
    world.process(document)
    assert world.embedder.embedded_texts == ["same words here"]
    assert world.stored(document).chunk_count == 3


def test_unknown_document_raises_and_writes_nothing(world: World) -> None:
    document = world.submit(SAMPLE)
    world.db.documents.clear()
    with pytest.raises(DocumentNotFound):
        world.process(document)
    assert world.db.documents == {}


def test_a_document_of_another_workspace_is_never_touched(world: World) -> None:
    document = world.submit(SAMPLE)
    before = world.db.commits
    with pytest.raises(WorkspaceMismatch):
        world.process(document, workspace_id=uuid4())
    assert world.db.commits == before
    assert world.stored(document).status is DocumentStatus.QUEUED
    assert world.embedder.embedded_texts == []


@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        ("missing_blob", BlobNotFound.code),
        ("too_large", DocumentTooLarge.code),
        ("corrupt", CorruptDocument.code),
        ("no_text", NoExtractableText.code),
        ("chunker", CorruptDocument.code),
        ("embedder_4xx", EmbedderRejected.code),
        ("only_whitespace", NoExtractableText.code),
    ],
)
def test_a_permanent_failure_at_any_stage_marks_failed_once(
    world: World, breakage: str, code: str
) -> None:
    document = world.submit(SAMPLE)
    if breakage == "missing_blob":
        del world.storage.blobs[document.storage_key]
    elif breakage == "too_large":
        world.max_file_bytes = 10
    elif breakage == "corrupt":
        world.extractor.error = CorruptDocument("truncated xref table")
    elif breakage == "no_text":
        world.extractor.error = NoExtractableText()
    elif breakage == "chunker":
        world.chunker.error = CorruptDocument("bad structure")
    elif breakage == "embedder_4xx":
        world.embedder.error = EmbedderRejected("401 from the embedding service")
    elif breakage == "only_whitespace":
        world.storage.put(document.storage_key, b"   \n\n  \t ")

    with pytest.raises(PermanentError) as raised:
        world.process(document)

    stored = world.stored(document)
    assert raised.value.code == code
    assert stored.status is DocumentStatus.FAILED
    assert stored.error_code == code
    assert stored.error_message
    assert document.id not in world.db.chunks
    assert world.telemetry.outcomes[code] == 1


@pytest.mark.parametrize("stage", ["extractor", "chunker", "embedder"])
def test_running_out_of_memory_fails_the_document_once(world: World, stage: str) -> None:
    document = world.submit(SAMPLE)
    getattr(world, stage).error = MemoryError()

    with pytest.raises(OutOfMemory) as raised:
        world.process(document)

    stored = world.stored(document)
    assert (stored.status, stored.error_code, stored.attempts) == (
        DocumentStatus.FAILED,
        "out_of_memory",
        1,
    )
    assert raised.value.__context__ is None  # the failed attempt's frames are let go
    assert world.telemetry.outcomes["out_of_memory"] == 1


def test_a_failed_document_succeeds_when_processed_again_after_the_fix(world: World) -> None:
    document = world.submit(SAMPLE)
    world.extractor.error = CorruptDocument()
    with pytest.raises(CorruptDocument):
        world.process(document)
    world.extractor.error = None

    world.process(document)

    stored = world.stored(document)
    assert stored.status is DocumentStatus.READY
    assert stored.error_code is None
    assert stored.attempts == 2


def test_a_transient_embedder_failure_requeues_with_the_reason(world: World) -> None:
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderUnavailable("503 from the embedding service")

    with pytest.raises(EmbedderUnavailable):
        world.process(document)

    stored = world.stored(document)
    assert stored.status is DocumentStatus.QUEUED
    assert stored.error_code == EmbedderUnavailable.code
    assert "503" in (stored.error_message or "")
    assert document.id not in world.db.chunks


def test_a_transient_failure_then_success(world: World) -> None:
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderUnavailable()
    with pytest.raises(EmbedderUnavailable):
        world.process(document)
    world.embedder.error = None

    world.process(document)

    assert world.stored(document).status is DocumentStatus.READY


def test_waiting_for_the_rate_limit_uses_no_attempt(world: World) -> None:
    """Deferred more times than the document has attempts, it still ends ready."""
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderThrottled("the rate limit would hold the request")
    for _ in range(world.max_attempts + 2):
        with pytest.raises(EmbedderThrottled) as raised:
            world.process(document)
        stored = world.stored(document)
        assert (stored.status, stored.attempts) == (DocumentStatus.QUEUED, 0)
        assert stored.error_code == EmbedderThrottled.code
        assert raised.value.attempts == 0  # the queue keeps every retry of the job
    world.embedder.error = None

    world.process(document)

    stored = world.stored(document)
    assert (stored.status, stored.attempts) == (DocumentStatus.READY, 1)


def test_a_real_failure_after_deferrals_counts_only_itself(world: World) -> None:
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderThrottled()
    with pytest.raises(EmbedderThrottled):
        world.process(document)
    world.embedder.error = EmbedderUnavailable("503")

    with pytest.raises(EmbedderUnavailable) as raised:
        world.process(document)

    assert world.stored(document).attempts == 1
    assert raised.value.attempts == 1


def test_vectors_received_before_an_interruption_are_not_asked_for_again(world: World) -> None:
    document = world.submit(SAMPLE)
    interrupted = EmbedderUnavailable("the connection dropped after the first batch")
    world.embedder.on_embed = lambda: _interrupt_after_first(world, interrupted)
    with pytest.raises(EmbedderUnavailable):
        world.process(document)
    first_text = world.embedder.asked[0][0]
    world.embedder.on_embed = None

    world.process(document)

    assert world.stored(document).status is DocumentStatus.READY
    assert first_text not in world.embedder.asked[1]
    assert world.telemetry.cache_hits == 1


def test_an_unreachable_held_vector_store_does_not_hide_the_embedder_error(world: World) -> None:
    document = world.submit(SAMPLE)
    interrupted = EmbedderUnavailable("dropped")
    world.embedder.on_embed = lambda: _interrupt_after_first(world, interrupted)
    world.held_vectors.available = False

    with pytest.raises(EmbedderUnavailable, match="dropped"):
        world.process(document)


def _interrupt_after_first(world: World, error: EmbedderUnavailable) -> None:
    """Make this embed call fail, having received the vector of its first text."""
    texts = world.embedder.pending
    error.received = {0: world.embedder.inner.embed(texts[:1])[0]}
    raise error


def test_transient_failures_give_up_after_max_attempts(world: World) -> None:
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderUnavailable("timed out")
    for _ in range(world.max_attempts - 1):
        with pytest.raises(EmbedderUnavailable):
            world.process(document)

    with pytest.raises(RetriesExhausted, match="timed out"):
        world.process(document)

    stored = world.stored(document)
    assert stored.status is DocumentStatus.FAILED
    assert stored.error_code == RetriesExhausted.code
    assert stored.attempts == world.max_attempts


def test_storage_outage_before_the_attempt_leaves_the_document_queued(world: World) -> None:
    document = world.submit(SAMPLE)
    world.storage.available = False

    with pytest.raises(DependencyUnavailable):
        world.process(document)

    stored = world.stored(document)
    assert stored.status is DocumentStatus.QUEUED
    assert stored.attempts == 0


def test_database_outage_during_the_write_keeps_the_old_chunks(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    old_chunks = list(world.db.chunks[document.id])
    world.storage.put(document.storage_key, b"entirely different text now")
    world.embedder.on_embed = lambda: setattr(world.db, "available", False)

    with pytest.raises(DependencyUnavailable):
        world.process(document)

    assert world.db.chunks[document.id] == old_chunks
    assert world.stored(document).status is DocumentStatus.PROCESSING


def test_an_abandoned_attempt_can_be_taken_over_by_a_retry(world: World) -> None:
    document = world.submit(SAMPLE)
    with world.db.unit_of_work() as uow:
        claimed = uow.documents.get(document.id, world.workspace_id)
        claimed.start_processing(world.clock.now())
        uow.documents.save(claimed)
        uow.commit()
    world.clock.advance(timedelta(minutes=5))

    world.process(document)

    assert world.stored(document).status is DocumentStatus.READY
    assert world.stored(document).attempts == 2


def test_errors_after_the_claim_carry_the_documents_attempts(world: World) -> None:
    document = world.submit(SAMPLE)
    world.embedder.error = EmbedderUnavailable()
    seen = []
    for _ in range(2):
        with pytest.raises(EmbedderUnavailable) as raised:
            world.process(document)
        seen.append(raised.value.attempts)

    assert seen == [1, 2]


def test_errors_before_the_claim_carry_no_attempts(world: World) -> None:
    document = world.submit(SAMPLE)
    world.storage.available = False

    with pytest.raises(DependencyUnavailable) as raised:
        world.process(document)

    assert raised.value.attempts is None


def test_an_attempt_past_the_budget_is_refused_before_it_starts(world: World) -> None:
    """Attempts cut short by crashes (the process died, nothing was recorded) still count: a
    retry of a document that has had every attempt fails it instead of trying again."""
    document = world.submit(SAMPLE)
    with world.db.unit_of_work() as uow:
        crashed = uow.documents.get(document.id, world.workspace_id)
        for _ in range(world.max_attempts):
            crashed.start_processing(world.clock.now())
        uow.documents.save(crashed)
        uow.commit()

    with pytest.raises(RetriesExhausted):
        world.process(document)

    stored = world.stored(document)
    assert stored.status is DocumentStatus.FAILED
    assert stored.error_code == RetriesExhausted.code
    assert world.extractor.calls == 0


def test_an_older_attempt_never_overwrites_a_newer_one(world: World) -> None:
    """The file is replaced and its document processed again while an older attempt is still
    embedding: the older attempt finishes last, and must not put its stale chunks back."""
    document = world.submit(SAMPLE)
    new_text = "Entirely new content replaced the upload.\n\nIt must be what the index holds."

    def replace_and_process_again() -> None:
        world.embedder.on_embed = None
        world.storage.put(document.storage_key, new_text.encode())
        world.process(document)

    world.embedder.on_embed = replace_and_process_again

    older = world.process(document)

    stored = world.stored(document)
    assert older.status == "superseded"
    assert stored.status is DocumentStatus.READY
    assert stored.content_sha256 == hashlib.sha256(new_text.encode()).hexdigest()
    indexed = " ".join(stored_chunk.chunk.text for stored_chunk in world.db.chunks[document.id])
    assert "Entirely new content" in indexed and "Pgvector" not in indexed


def test_an_older_attempts_failure_leaves_a_newer_attempt_alone(world: World) -> None:
    document = world.submit(SAMPLE)

    def newer_attempt_takes_over() -> None:
        world.embedder.on_embed = None
        with world.db.unit_of_work() as uow:
            current = uow.documents.get(document.id, world.workspace_id)
            current.start_processing(world.clock.now())
            uow.documents.save(current)
            uow.commit()
        world.embedder.error = EmbedderUnavailable("the older attempt's embedder gave up")

    world.embedder.on_embed = newer_attempt_takes_over

    with pytest.raises(EmbedderUnavailable):
        world.process(document)

    stored = world.stored(document)
    assert (stored.status, stored.attempts) == (DocumentStatus.PROCESSING, 2)
    assert stored.error_code is None


def test_a_file_refused_by_its_size_is_named_and_adds_no_bytes(world: World) -> None:
    document = world.submit(SAMPLE, filename="report.txt")
    world.max_file_bytes = 10
    with pytest.raises(DocumentTooLarge):
        world.process(document)
    failed = world.stored(document)
    assert failed.error_message is not None and "'report.txt'" in failed.error_message
    assert document.storage_key not in failed.error_message
    assert world.telemetry.bytes == 0


def test_a_missing_file_is_named_by_its_filename(world: World) -> None:
    document = world.submit(SAMPLE, filename="report.txt")
    del world.storage.blobs[document.storage_key]
    with pytest.raises(BlobNotFound):
        world.process(document)
    message = world.stored(document).error_message or ""
    assert "'report.txt'" in message and document.storage_key not in message


def test_a_storage_key_outside_the_documents_workspace_is_refused_unread(world: World) -> None:
    theirs = world.submit("workspace A's private text", filename="a.txt")
    world.workspace_id = uuid4()
    ours = world.submit(SAMPLE, filename="b.txt")
    world.db.documents[ours.id] = replace(world.stored(ours), storage_key=theirs.storage_key)

    with pytest.raises(InvalidStorageKey):
        world.process(ours)

    failed = world.stored(ours)
    assert (failed.status, failed.error_code) == (DocumentStatus.FAILED, InvalidStorageKey.code)
    assert failed.error_message is not None and "'b.txt'" in failed.error_message
    assert theirs.storage_key not in failed.error_message
    assert world.telemetry.bytes == 0
    assert world.embedder.embedded_texts == []


def test_a_storage_key_only_starting_like_the_workspace_is_refused(world: World) -> None:
    document = world.submit(SAMPLE)
    sneaky = f"{world.workspace_id}-other/{document.id}/notes.txt"
    world.storage.put(sneaky, SAMPLE.encode())
    world.db.documents[document.id] = replace(world.stored(document), storage_key=sneaky)

    with pytest.raises(InvalidStorageKey):
        world.process(document)


@pytest.mark.parametrize("limit", [None, 10])
def test_a_refusal_shows_only_the_start_of_a_huge_file_name(
    world: World, limit: int | None
) -> None:
    document = world.submit(SAMPLE, filename="n" * 100_000 + ".txt")
    if limit is None:
        del world.storage.blobs[document.storage_key]
    else:
        world.max_file_bytes = limit
    with pytest.raises(PermanentError):
        world.process(document)
    message = world.stored(document).error_message or ""
    assert 0 < len(message) <= 400


def test_bytes_read_are_counted(world: World) -> None:
    world.process(world.submit(SAMPLE))
    assert world.telemetry.bytes == len(SAMPLE.encode())
