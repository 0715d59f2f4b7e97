from __future__ import annotations

from datetime import timedelta

from application.usecases.ingestion import ResumeAbandonedJobs
from domain import Document, DocumentStatus

from .conftest import LEASE, SAMPLE, World, recover


def resume(world: World) -> ResumeAbandonedJobs:
    return ResumeAbandonedJobs(
        uow_factory=world.db.unit_of_work, queue=world.queue, clock=world.clock, lease=LEASE
    )


def take_and_die(world: World, document: Document, presumed_dead: bool = False) -> str:
    """A worker takes the document's job, then dies; returns the job's id."""
    [job_id] = [job_id for job_id, d, _ in world.queue.jobs if d == document.id]
    world.queue.abandon(job_id, world.clock.now(), presumed_dead=presumed_dead)
    return job_id


def claim(world: World, document: Document) -> None:
    with world.db.unit_of_work() as uow:
        current = uow.documents.get(document.id, document.workspace_id)
        current.start_processing(world.clock.now())
        uow.documents.save(current)
        uow.commit()


def waiting(world: World) -> list[str]:
    return [job_id for job_id, _, _ in world.queue.jobs]


def test_a_job_taken_but_never_claimed_goes_back_to_the_head_once_its_lease_runs_out(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    busy = [world.submit(f"{SAMPLE} {n}") for n in range(3)]
    world.clock.advance(LEASE + timedelta(seconds=1))

    report = resume(world)()

    assert report.resumed == [job_id]
    assert waiting(world)[0] == job_id
    assert len(waiting(world)) == 1 + len(busy)
    assert world.queue.abandoned == []
    stored = world.stored(document)
    assert (stored.status, stored.attempts) == (DocumentStatus.QUEUED, 0)


def test_a_job_taken_within_its_lease_is_left_alone(world: World) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document)
    world.clock.advance(LEASE - timedelta(seconds=1))

    report = resume(world)()

    assert report.resumed == report.retired == []
    assert len(world.queue.abandoned) == 1
    assert world.queue.jobs == []


def test_the_job_of_a_claimed_document_is_retired_and_the_lease_requeues_it_once(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    claim(world, document)
    world.clock.advance(LEASE + timedelta(seconds=1))

    jobs = resume(world)()
    documents = recover(world)()

    assert jobs.retired == [job_id] and jobs.resumed == []
    assert world.queue.failed == [job_id]
    assert documents.requeued == [document.id]
    assert [d for _, d, _ in world.queue.jobs] == [document.id]
    assert waiting(world) != [job_id]


def test_the_job_of_a_claimed_document_declared_dead_early_is_left_to_the_queue(
    world: World,
) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document, presumed_dead=True)
    claim(world, document)
    world.clock.advance(LEASE / 2)

    report = resume(world)()

    assert report.resumed == report.retired == []
    assert len(world.queue.abandoned) == 1
    assert world.stored(document).status is DocumentStatus.PROCESSING


def test_an_unclaimed_job_declared_dead_early_goes_back_at_once(world: World) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document, presumed_dead=True)

    assert resume(world)().resumed == [job_id]
    assert waiting(world) == [job_id]


def test_the_job_of_a_document_that_ended_runs_again_and_changes_nothing(world: World) -> None:
    document = world.submit(SAMPLE)
    world.process(document)
    world.queue.jobs.append(("late", document.id, document.workspace_id))
    world.queue.abandon("late", world.clock.now())
    world.clock.advance(LEASE * 2)

    assert resume(world)().resumed == ["late"]
    outcome = world.process(document)

    assert getattr(outcome, "status", None) == "unchanged"
    assert world.stored(document).attempts == 1


def test_the_job_of_a_missing_document_is_retired(world: World) -> None:
    document = world.submit(SAMPLE)
    job_id = take_and_die(world, document)
    del world.db.documents[document.id]
    world.clock.advance(LEASE * 2)

    assert resume(world)().retired == [job_id]
    assert world.queue.jobs == [] and world.queue.failed == [job_id]


def test_a_job_another_caller_settled_first_is_left_to_it(world: World) -> None:
    document = world.submit(SAMPLE)
    take_and_die(world, document)
    world.clock.advance(LEASE * 2)
    queue = world.queue
    listed = queue.abandoned_jobs(world.clock.now(), limit=10)
    queue.retire_abandoned(listed[0], run_again=True)  # the other caller, between list and act
    queue.abandoned_jobs = lambda *_args: listed  # type: ignore[method-assign]

    report = resume(world)()

    assert report.resumed == report.retired == []
    assert waiting(world) == [listed[0].job_id]
