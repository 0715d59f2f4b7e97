from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from application.errors import DependencyUnavailable
from application.ports import UnitOfWork
from application.usecases.ingestion import RequeueFailed, RequeueFailedDocuments
from domain import Document, DocumentStatus

from .conftest import SAMPLE, World


def requeue(
    world: World, uow_factory: Callable[[], UnitOfWork] | None = None
) -> RequeueFailedDocuments:
    return RequeueFailedDocuments(
        uow_factory=uow_factory or world.db.unit_of_work, queue=world.queue, clock=world.clock
    )


def fail(world: World, document: Document, code: str = "corrupt_document") -> None:
    with world.db.unit_of_work() as uow:
        current = uow.documents.get(document.id, document.workspace_id)
        current.mark_failed(code=code, message=f"{code} happened", now=world.clock.now())
        uow.documents.save(current)
        uow.commit()


def failed_documents(world: World, count: int) -> list[Document]:
    documents = []
    for n in range(count):
        documents.append(world.submit(SAMPLE, filename=f"notes-{n}.txt"))
        fail(world, documents[-1])
        world.clock.advance(timedelta(seconds=1))
    world.queue.jobs.clear()
    return documents


def test_failed_documents_are_queued_again_oldest_first_with_their_error_cleared(
    world: World,
) -> None:
    first, second = failed_documents(world, 2)
    untouched = world.submit(SAMPLE)
    world.queue.jobs.clear()

    requeued = requeue(world)(RequeueFailed())

    assert requeued == [first.id, second.id]
    assert [d for _, d, _ in world.queue.jobs] == [first.id, second.id]
    for document in (first, second):
        stored = world.stored(document)
        assert stored.status is DocumentStatus.QUEUED
        assert stored.error_code is None and stored.error_message is None
    assert world.stored(untouched).status is DocumentStatus.QUEUED


def test_each_document_is_committed_in_its_own_transaction(world: World) -> None:
    failed_documents(world, 3)
    commits = world.db.commits

    requeue(world)(RequeueFailed())

    assert world.db.commits - commits == 3


def test_only_the_named_workspace_is_requeued(world: World) -> None:
    mine = failed_documents(world, 1)[0]
    world.workspace_id = uuid4()
    theirs = failed_documents(world, 1)[0]

    requeued = requeue(world)(RequeueFailed(workspace_id=mine.workspace_id))

    assert requeued == [mine.id]
    assert world.stored(theirs).status is DocumentStatus.FAILED


def test_at_most_limit_documents_are_requeued(world: World) -> None:
    documents = failed_documents(world, 3)

    requeued = requeue(world)(RequeueFailed(limit=2))

    assert requeued == [documents[0].id, documents[1].id]
    assert world.stored(documents[2]).status is DocumentStatus.FAILED


def test_a_document_no_longer_failed_when_its_turn_comes_is_skipped(world: World) -> None:
    taken, other = failed_documents(world, 2)
    calls = 0

    def uow_factory() -> UnitOfWork:
        nonlocal calls
        calls += 1
        if calls == 2:  # after the listing: someone else requeues `taken` first
            requeue(world)(RequeueFailed(limit=1))
        return world.db.unit_of_work()

    requeued = requeue(world, uow_factory)(RequeueFailed())

    assert requeued == [other.id]
    assert [d for _, d, _ in world.queue.jobs] == [taken.id, other.id]


def test_when_the_queue_is_down_the_document_stays_failed_with_its_reason(world: World) -> None:
    first, second = failed_documents(world, 2)
    world.queue.available = False

    with pytest.raises(DependencyUnavailable):
        requeue(world)(RequeueFailed())

    stored = world.stored(first)
    assert stored.status is DocumentStatus.FAILED
    assert (stored.error_code, stored.error_message) == (
        "corrupt_document",
        "corrupt_document happened",
    )
    assert world.stored(second).status is DocumentStatus.FAILED
    assert world.queue.jobs == []


def test_when_the_database_is_down_nothing_is_enqueued(world: World) -> None:
    failed_documents(world, 1)
    world.db.available = False

    with pytest.raises(DependencyUnavailable):
        requeue(world)(RequeueFailed())

    assert world.queue.jobs == []


def test_a_requeued_document_gets_a_fresh_attempt_budget(world: World) -> None:
    [document] = failed_documents(world, 1)
    with world.db.unit_of_work() as uow:
        exhausted = uow.documents.get(document.id, document.workspace_id)
        exhausted.attempts = world.max_attempts
        uow.documents.save(exhausted)
        uow.commit()

    requeue(world)(RequeueFailed())

    assert world.stored(document).attempts == 0
