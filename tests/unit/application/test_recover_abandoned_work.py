from __future__ import annotations

from dataclasses import replace
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


def test_a_queued_document_with_no_job_left_is_enqueued_again(world: World) -> None:
    orphan = world.submit(SAMPLE)
    world.queue.jobs.clear()
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = recover(world)()

    assert report.reenqueued == [orphan.id]
    assert [d for _, d, _ in world.queue.jobs] == [orphan.id]
    assert world.stored(orphan).status is DocumentStatus.QUEUED


def test_an_orphan_is_enqueued_again_while_other_documents_jobs_wait(world: World) -> None:
    orphan = world.submit(SAMPLE)
    world.queue.jobs.clear()
    waiting = world.submit(SAMPLE + " more")
    world.clock.advance(LEASE * 3)

    report = recover(world)()

    assert report.reenqueued == [orphan.id]
    assert [d for _, d, _ in world.queue.jobs] == [waiting.id, orphan.id]


def test_a_queued_document_whose_job_still_waits_is_left_alone(world: World) -> None:
    document = world.submit(SAMPLE)
    world.clock.advance(LEASE * 3)

    report = recover(world)()

    assert report.reenqueued == []
    assert [d for _, d, _ in world.queue.jobs] == [document.id]


def test_a_queued_document_whose_job_a_worker_holds_is_left_alone(world: World) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document)  # taken just now: within its lease, so still live
    world.clock.advance(LEASE * 3)
    world.queue.abandoned[0] = replace(world.queue.abandoned[0], taken_at=world.clock.now())

    report = recover(world)()

    assert report.reenqueued == []
    assert world.queue.jobs == []


def test_a_recently_queued_document_is_not_taken_for_an_orphan(world: World) -> None:
    world.submit(SAMPLE)
    world.queue.jobs.clear()
    world.clock.advance(LEASE - timedelta(seconds=1))

    assert recover(world)().reenqueued == []
    assert world.queue.jobs == []


# Jobs a dead worker took --------------------------------------------------------------------


def take_and_die(world: World, document: Document, presumed_dead: bool = False) -> str:
    """A worker takes the document's job, then dies; returns the job's id."""
    [job_id] = [job_id for job_id, d, _ in world.queue.jobs if d == document.id]
    world.queue.abandon(job_id, world.clock.now(), presumed_dead=presumed_dead)
    return job_id


def waiting(world: World) -> list[str]:
    return [job_id for job_id, _, _ in world.queue.jobs]


def test_a_job_taken_but_never_claimed_goes_back_to_the_head_once_its_lease_runs_out(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    busy = [world.submit(f"{SAMPLE} {n}") for n in range(3)]
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = recover(world)()

    assert report.resumed_jobs == [job_id]
    assert waiting(world)[0] == job_id
    assert len(waiting(world)) == 1 + len(busy)
    assert world.queue.abandoned == []
    stored = world.stored(document)
    assert (stored.status, stored.attempts) == (DocumentStatus.QUEUED, 0)


def test_a_job_taken_within_its_lease_is_left_alone(world: World) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document)
    world.clock.advance(LEASE - timedelta(seconds=1))

    report = recover(world)()

    assert report.resumed_jobs == report.retired_jobs == []
    assert len(world.queue.abandoned) == 1
    assert world.queue.jobs == []


def test_the_job_of_a_claimed_document_is_retired_and_the_lease_requeues_it_once(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    claim(world, document)
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = recover(world)()
    again = recover(world)()

    assert report.retired_jobs == [job_id] and report.resumed_jobs == []
    assert world.queue.failed == [job_id]
    assert report.requeued == [document.id]
    assert not again
    assert [d for _, d, _ in world.queue.jobs] == [document.id]
    assert waiting(world) != [job_id]


def test_the_job_of_a_claimed_document_declared_dead_early_is_left_to_the_queue(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document, presumed_dead=True)
    claim(world, document)
    world.clock.advance(LEASE / 2)

    report = recover(world)()

    assert report.resumed_jobs == report.retired_jobs == []
    assert len(world.queue.abandoned) == 1
    assert world.stored(document).status is DocumentStatus.PROCESSING


def test_an_unclaimed_job_declared_dead_early_goes_back_at_once(world: World) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document, presumed_dead=True)

    assert recover(world)().resumed_jobs == [job_id]
    assert waiting(world) == [job_id]


def test_the_job_of_a_document_that_ended_runs_again_and_changes_nothing(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    world.queue.jobs.append(("late", document.id, document.workspace_id))
    world.queue.abandon("late", world.clock.now())
    world.clock.advance(LEASE * 2)

    assert recover(world)().resumed_jobs == ["late"]
    outcome = world.process(document)

    assert getattr(outcome, "status", None) == "unchanged"
    assert world.stored(document).attempts == 1


def test_the_job_of_a_missing_document_is_retired(world: World) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    del world.db.documents[document.id]
    world.clock.advance(LEASE * 2)

    assert recover(world)().retired_jobs == [job_id]
    assert world.queue.jobs == [] and world.queue.failed == [job_id]


def test_a_job_another_caller_settled_first_is_left_to_it(world: World) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document)
    world.clock.advance(LEASE * 2)
    queue = world.queue
    listed = queue.abandoned_jobs(world.clock.now(), limit=10)
    queue.retire_abandoned(listed[0], run_again=True)  # the other caller, between list and act
    queue.abandoned_jobs = lambda *_args: listed  # type: ignore[method-assign]

    report = recover(world)()

    assert report.resumed_jobs == report.retired_jobs == []
    assert waiting(world) == [listed[0].job_id]


# The recovery turn ---------------------------------------------------------------------------


def test_documents_are_recovered_once_per_interval_while_jobs_are_settled_every_pass(
    world: World,
) -> None:
    stuck, lost = world.submit(SAMPLE), world.submit(SAMPLE + " again")
    claim(world, stuck)
    world.queue.jobs = [job for job in world.queue.jobs if job[1] != stuck.id]
    world.clock.advance(LEASE + timedelta(seconds=1))
    use_case = recover(world, interval=timedelta(hours=1))

    first = use_case()
    job_id = take_and_die(world, lost)
    world.clock.advance(LEASE + timedelta(seconds=1))
    claim(world, stuck)
    world.clock.advance(LEASE + timedelta(seconds=1))
    second = use_case()

    assert first.requeued == [stuck.id]
    assert second.requeued == [] and second.resumed_jobs == [job_id]
    assert world.stored(stuck).status is DocumentStatus.PROCESSING
