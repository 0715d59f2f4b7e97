"""Canary: the installed RQ still has every internal `infrastructure.rq_internals` relies on.

Each test names the internal it checks, so an RQ upgrade that drops or changes one fails here,
loudly, rather than in a dead worker's job that is never settled. Real Redis; no worker runs.
"""

from __future__ import annotations

import inspect
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import BaseWorker
from rq.worker_pool import WorkerPool

from infrastructure import rq_internals
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER

QUEUE = "canary"
SEE = "; see src/infrastructure/rq_internals.py"


@pytest.fixture
def queue(redis_connection: Redis) -> Queue:
    return Queue(QUEUE, connection=redis_connection, serializer=SERIALIZER)


def enqueue(queue: Queue) -> Job:
    return queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=(str(uuid4()), str(uuid4())))


def take(queue: Queue) -> Job:
    """What a worker's dequeue does: the job moves to the queue's intermediate list."""
    taken = Queue.dequeue_any([queue], None, connection=queue.connection, serializer=SERIALIZER)
    assert taken is not None, "Queue.dequeue_any returned nothing" + SEE
    return taken[0]


def worker(queue: Queue) -> Worker:
    return Worker([queue], connection=queue.connection, serializer=SERIALIZER)


def test_queue_key_is_rqs_key_layout(queue: Queue) -> None:
    assert rq_internals.queue_key(QUEUE) == queue.key, (
        "Queue.redis_queue_namespace_prefix no longer gives the queue's key" + SEE
    )


def test_registry_keys_are_rqs_key_layout(queue: Queue) -> None:
    registries = {
        "started": queue.started_job_registry,
        "finished": queue.finished_job_registry,
        "failed": queue.failed_job_registry,
        "deferred": queue.deferred_job_registry,
        "scheduled": queue.scheduled_job_registry,
        "canceled": queue.canceled_job_registry,
    }
    for status, registry in registries.items():
        assert rq_internals.registry_keys(QUEUE)[status] == registry.key, (
            f"{type(registry).__name__}.key_template no longer gives the registry's key" + SEE
        )


def test_a_registered_worker_is_in_the_workers_set_with_its_state_field(queue: Queue) -> None:
    live = worker(queue)
    live.register_birth()
    live.set_state("idle")
    connection = queue.connection
    assert connection.sismember(rq_internals.WORKERS_KEY, live.key), (
        "worker_registration.REDIS_WORKER_KEYS no longer lists registered workers" + SEE
    )
    state = connection.hget(live.key, rq_internals.WORKER_STATE_FIELD)
    assert state == b"idle", "a worker's hash no longer holds its state in `state`" + SEE


def test_a_taken_job_waits_in_the_intermediate_list_until_rqs_cleanup_records_it(
    queue: Queue,
) -> None:
    job = enqueue(queue)
    take(queue)
    assert rq_internals.intermediate_job_ids(queue) == [job.id], (
        "IntermediateQueue.get_job_ids no longer lists a taken job" + SEE
    )
    assert rq_internals.intermediate_list_key(queue) == queue.intermediate_queue.key, (
        "Queue.intermediate_queue_key is not the intermediate list's key" + SEE
    )
    assert rq_internals.first_seen_in_intermediate(queue, job.id) is None, (
        "IntermediateQueue.get_first_seen reports a moment nobody recorded" + SEE
    )

    worker(queue).clean_registries()

    first_seen = rq_internals.first_seen_in_intermediate(queue, job.id)
    assert first_seen is not None, (
        "RQ's registry cleanup (Worker.clean_registries -> IntermediateQueue.cleanup) no longer "
        "records when it first saw a taken job (set_first_seen), which listing abandoned jobs "
        "relies on" + SEE
    )
    assert rq_internals.intermediate_job_ids(queue) == [job.id], (
        "RQ's cleanup no longer leaves a first-seen job in the intermediate list" + SEE
    )
    assert not rq_internals.overdue_in_intermediate(queue, job.id), (
        "IntermediateQueue.should_be_cleaned_up calls a just-seen job overdue" + SEE
    )


def test_an_old_first_seen_record_is_overdue_and_can_be_forgotten(queue: Queue) -> None:
    job = enqueue(queue)
    take(queue)
    key = queue.intermediate_queue.get_first_seen_key(job.id)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    queue.connection.set(key, long_ago.timestamp())

    assert rq_internals.first_seen_in_intermediate(queue, job.id) == long_ago, (
        "IntermediateQueue.get_first_seen_key is not where the first-seen moment is read" + SEE
    )
    assert rq_internals.overdue_in_intermediate(queue, job.id), (
        "IntermediateQueue.should_be_cleaned_up no longer calls an hour-old entry overdue" + SEE
    )
    with queue.connection.pipeline() as pipeline:
        rq_internals.forget_first_seen(queue, job.id, pipeline)
        pipeline.execute()
    assert rq_internals.first_seen_in_intermediate(queue, job.id) is None, (
        "IntermediateQueue.get_first_seen_key: forgetting left the record" + SEE
    )


def test_a_started_execution_is_listed_with_its_start_and_heartbeat(queue: Queue) -> None:
    job = enqueue(queue)
    taken = take(queue)
    before = datetime.now(UTC).timestamp() - 1
    execution = worker(queue).prepare_execution(taken)

    [started] = rq_internals.started_executions(queue)

    assert (started.job_id, started.execution_id) == (job.id, execution.id), (
        "the started registry's members are no longer Execution.composite_key" + SEE
    )
    assert before <= started.started_at <= datetime.now(UTC).timestamp() + 1, (
        "an execution's hash (Execution.key) no longer holds `created_at`" + SEE
    )
    assert not started.heartbeat_expired, (
        "the started registry's scores are no longer heartbeat deadlines" + SEE
    )
    member = rq_internals.started_registry_entry(job.id, execution.id, queue.connection)
    assert queue.connection.zscore(queue.started_job_registry.key, member) is not None, (
        "Execution.composite_key is not the started registry's member" + SEE
    )


def test_an_execution_without_heartbeat_is_expired_and_can_be_forgotten(queue: Queue) -> None:
    job = enqueue(queue)
    taken = take(queue)
    connection = queue.connection
    with connection.pipeline() as pipeline:
        execution = Execution.create(taken, ttl=0, pipeline=pipeline)
        pipeline.execute()

    [started] = rq_internals.started_executions(queue)
    assert started.heartbeat_expired, (
        "a started registry entry past its deadline is not expired (utils.current_timestamp)" + SEE
    )
    with connection.pipeline() as pipeline:
        rq_internals.forget_execution(job.id, execution.id, connection, pipeline)
        pipeline.execute()
    assert not connection.exists(execution.key), "Execution.key is not the execution's hash" + SEE
    assert ExecutionRegistry(job.id, connection).get_execution_ids() == [], (
        "ExecutionRegistry(job_id).key no longer holds the job's executions" + SEE
    )


def test_a_job_put_back_lands_at_the_head_of_the_queue_queued(queue: Queue) -> None:
    first = enqueue(queue)
    taken = take(queue)
    second = enqueue(queue)

    with queue.connection.pipeline() as pipeline:
        rq_internals.put_back_at_the_head(taken, queue, pipeline)
        pipeline.execute()

    assert queue.job_ids == [first.id, second.id], (
        "Queue.push_job_id(at_front=True) no longer puts a job at the head" + SEE
    )
    stored = Job.fetch(first.id, connection=queue.connection, serializer=SERIALIZER)
    assert stored.get_status() == JobStatus.QUEUED, "Job.set_status in a pipeline" + SEE
    assert StartedJobRegistry(queue=queue).get_job_ids(cleanup=False) == []


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """RQ's stop request installs its own SIGINT/SIGTERM handlers: put ours back after."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("signal_handlers")
def test_a_stop_request_is_seen(queue: Queue) -> None:
    idle = SimpleWorker([queue], connection=queue.connection, serializer=SERIALIZER)
    assert not rq_internals.stop_was_requested(idle), (
        "BaseWorker._shutdown_requested_date is set before any stop request" + SEE
    )
    with pytest.raises(StopRequested):
        idle.request_stop(signal.SIGTERM, None)
    assert rq_internals.stop_was_requested(idle), (
        "BaseWorker.request_stop no longer sets _shutdown_requested_date" + SEE
    )


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (BaseWorker.__init__, "BaseWorker(...)", {"exception_handlers", "maintenance_interval"}),
        (BaseWorker.__init__, "BaseWorker(...)", {"work_horse_killed_handler", "job_class"}),
        (BaseWorker.execute_job, "BaseWorker.execute_job", {"job", "queue"}),
        (BaseWorker.run_maintenance_tasks, "BaseWorker.run_maintenance_tasks", set()),
        (Worker.bootstrap, "Worker.bootstrap", {"logging_level"}),
        (WorkerPool.__init__, "WorkerPool(...)", {"worker_class", "serializer", "job_class"}),
        (WorkerPool.start, "WorkerPool.start", {"burst", "logging_level"}),
    ],
)
def test_the_worker_hooks_we_override_or_pass_still_take_what_we_give(
    owner: object, name: str, parameters: set[str]
) -> None:
    """src/worker overrides these methods or passes these options."""
    missing = parameters - set(inspect.signature(owner).parameters)  # type: ignore[arg-type]
    assert not missing, f"{name} no longer takes {sorted(missing)} (used by src/worker)"


def test_the_worker_attributes_we_read_still_exist(queue: Queue) -> None:
    live = worker(queue)
    for attribute in ("dequeue_timeout", "maintenance_interval", "worker_ttl"):
        assert hasattr(live, attribute), f"Worker.{attribute} is gone (used by src/worker)"


def test_failure_hooks_match_rqs_failure_handling() -> None:
    recorded = inspect.signature(BaseWorker.handle_job_failure).parameters
    assert list(recorded)[:5] == ["self", "job", "queue", "started_job_registry", "exc_string"], (
        "BaseWorker.handle_job_failure changed its parameters" + SEE
    )
    handled = inspect.signature(BaseWorker.handle_exception).parameters
    assert list(handled) == ["self", "job", "exc_info"], (
        "BaseWorker.handle_exception changed its parameters" + SEE
    )


def test_live_job_ids_sees_a_job_in_every_state_that_may_still_run(queue: Queue) -> None:
    taken, started = enqueue(queue), enqueue(queue)
    assert take(queue).id == taken.id
    assert take(queue).id == started.id
    worker(queue).prepare_execution(started)
    waiting = enqueue(queue)
    scheduled = queue.enqueue_in(timedelta(hours=1), PROCESS_DOCUMENT_JOB, "a", "b")
    deferred = queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=("a", "b"), depends_on=waiting)

    live = rq_internals.live_job_ids([queue])

    assert live == {waiting.id, taken.id, started.id, scheduled.id, deferred.id}, (
        "Queue.intermediate_queue_key or a registry's parse_job_id no longer finds live jobs" + SEE
    )


def test_job_restore_still_inflates_data_and_parses_the_lifetimes(queue: Queue) -> None:
    # Job.restore: the one place a job hash is decoded, which GuardedJob guards.
    source = inspect.getsource(Job.restore)
    assert "zlib.decompress" in source and "parse_timeout" in source, "Job.restore" + SEE
    job = queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=("a", "b"))
    queue.connection.hset(job.key, "timeout", "abc")
    fetched = rq_internals.GuardedJob.fetch(
        job.id, connection=queue.connection, serializer=SERIALIZER
    )
    assert fetched.timeout is None and fetched.args == ["a", "b"], "Job.restore" + SEE


def test_perform_job_still_asks_the_death_penalty_for_job_timeout_exception() -> None:
    # BaseWorker.perform_job passes JobTimeoutException to death_penalty_class, which
    # TimeoutPenalty swaps for an application error.
    source = inspect.getsource(BaseWorker.perform_job)
    assert "death_penalty_class(timeout, JobTimeoutException" in source, (
        "BaseWorker.perform_job" + SEE
    )
