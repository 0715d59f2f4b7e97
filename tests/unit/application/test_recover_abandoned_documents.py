from __future__ import annotations

from datetime import timedelta

from application.errors import RetriesExhausted
from domain import Document, DocumentStatus

from .conftest import LEASE, SAMPLE, World, recover


def claim(world: World, document: Document, attempts: int = 1) -> None:
    with world.db.unit_of_work() as uow:
        current = uow.documents.get(document.id, document.workspace_id)
        for _ in range(attempts):
            current.start_processing(world.clock.now())
        uow.documents.save(current)
        uow.commit()


def test_an_attempt_older_than_the_lease_is_requeued_and_enqueued(world: World) -> None:
    document = world.submit(SAMPLE)
    claim(world, document)
    world.queue.jobs.clear()
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = recover(world)()

    assert report.requeued == [document.id]
    stored = world.stored(document)
    assert stored.status is DocumentStatus.QUEUED
    assert stored.error_code == "abandoned"
    assert [d for _, d, _ in world.queue.jobs] == [document.id]


def test_an_attempt_within_its_lease_is_left_alone(world: World) -> None:
    document = world.submit(SAMPLE)
    claim(world, document)
    world.queue.jobs.clear()
    world.clock.advance(LEASE - timedelta(seconds=1))

    report = recover(world)()

    assert report.requeued == report.failed == []
    assert world.stored(document).status is DocumentStatus.PROCESSING
    assert world.queue.jobs == []


def test_an_abandoned_document_out_of_attempts_is_failed(world: World) -> None:
    document = world.submit(SAMPLE)
    claim(world, document, attempts=world.max_attempts)
    world.queue.jobs.clear()
    world.clock.advance(LEASE * 2)

    report = recover(world)()

    assert report.failed == [document.id]
    stored = world.stored(document)
    assert stored.status is DocumentStatus.FAILED
    assert stored.error_code == RetriesExhausted.code
    assert world.queue.jobs == []


def test_a_recovered_document_then_processes_to_ready(world: World) -> None:
    document = world.submit(SAMPLE)
    claim(world, document)
    world.clock.advance(LEASE * 2)
    recover(world)()

    world.process(document)

    assert world.stored(document).status is DocumentStatus.READY
    assert world.stored(document).attempts == 2


def test_a_queued_document_with_no_job_left_is_enqueued_again_once_the_queue_is_idle(
    world: World,
) -> None:
    orphan = world.submit(SAMPLE)
    world.queue.jobs.clear()
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = recover(world)()

    assert report.reenqueued == [orphan.id]
    assert [d for _, d, _ in world.queue.jobs] == [orphan.id]
    assert world.stored(orphan).status is DocumentStatus.QUEUED


def test_queued_documents_are_left_alone_while_jobs_are_unfinished(world: World) -> None:
    orphan = world.submit(SAMPLE)
    world.queue.jobs.clear()
    waiting = world.submit(SAMPLE + " more")
    world.clock.advance(LEASE * 3)

    report = recover(world)()

    assert report.reenqueued == []
    assert [d for _, d, _ in world.queue.jobs] == [waiting.id]
    assert orphan.id not in [d for _, d, _ in world.queue.jobs]


def test_a_recently_queued_document_is_not_taken_for_an_orphan(world: World) -> None:
    world.submit(SAMPLE)
    world.queue.jobs.clear()
    world.clock.advance(LEASE - timedelta(seconds=1))

    assert recover(world)().reenqueued == []
    assert world.queue.jobs == []
