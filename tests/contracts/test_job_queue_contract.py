"""The `JobQueue` contract: every adapter enqueues the stable job with JSON-able arguments."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from application.errors import DependencyUnavailable
from application.ports import JobQueue
from infrastructure.memory import InMemoryJobQueue
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER, JobPolicy, RqJobQueue, connect

QUEUE = "ingestion"
#: A cutoff every job taken during a test was taken before.
LATER = timedelta(seconds=30)


class JobQueueContract:
    """Tests every `JobQueue` adapter must pass; subclasses provide `adapter`, `enqueued`,
    `abandon`, `waiting` and `failed`."""

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        """The dotted function path and the arguments of the job `job_id`."""
        raise NotImplementedError

    def abandon(self, adapter: JobQueue, job_id: str) -> None:
        """Let a worker take `job_id` (at the head of the queue) and die before it ends."""
        raise NotImplementedError

    def waiting(self, adapter: JobQueue) -> list[str]:
        """The ids of the jobs waiting on the queue, head first."""
        raise NotImplementedError

    def failed(self, adapter: JobQueue) -> list[str]:
        """The ids of the jobs recorded as failed."""
        raise NotImplementedError

    def test_enqueue_returns_a_job_id(self, adapter: JobQueue) -> None:
        job_id = adapter.enqueue_processing(uuid4(), uuid4())
        assert isinstance(job_id, str) and job_id

    def test_the_job_names_the_stable_path_with_string_arguments(self, adapter: JobQueue) -> None:
        document_id, workspace_id = uuid4(), uuid4()
        job_id = adapter.enqueue_processing(document_id, workspace_id)
        function, args = self.enqueued(adapter, job_id)
        assert function == PROCESS_DOCUMENT_JOB
        assert args == [str(document_id), str(workspace_id)]

    def test_a_batch_enqueues_one_job_per_document_in_order(self, adapter: JobQueue) -> None:
        documents = [(uuid4(), uuid4()) for _ in range(3)]

        job_ids = adapter.enqueue_processing_many(documents)

        assert len(set(job_ids)) == 3
        assert [self.enqueued(adapter, job_id)[1] for job_id in job_ids] == [
            [str(document), str(workspace)] for document, workspace in documents
        ]
        assert self.waiting(adapter) == job_ids
        assert adapter.documents_with_live_jobs([d for d, _ in documents]) == {
            d for d, _ in documents
        }
        assert adapter.enqueue_processing_many([]) == []

    def test_documents_with_live_jobs_are_those_enqueued(self, adapter: JobQueue) -> None:
        first, second, never = uuid4(), uuid4(), uuid4()
        assert adapter.documents_with_live_jobs([first, second, never]) == set()
        adapter.enqueue_processing(first, uuid4())
        adapter.enqueue_processing(second, uuid4())
        assert adapter.documents_with_live_jobs([first, second, never]) == {first, second}
        assert adapter.documents_with_live_jobs([second]) == {second}
        assert adapter.documents_with_live_jobs([]) == set()

    def test_the_same_document_may_be_enqueued_twice(self, adapter: JobQueue) -> None:
        document_id, workspace_id = uuid4(), uuid4()
        first = adapter.enqueue_processing(document_id, workspace_id)
        second = adapter.enqueue_processing(document_id, workspace_id)
        assert first != second

    def test_a_job_whose_worker_died_is_listed_with_its_document(self, adapter: JobQueue) -> None:
        document_id, workspace_id = uuid4(), uuid4()
        job_id = adapter.enqueue_processing(document_id, workspace_id)
        before = datetime.now(UTC) - timedelta(seconds=1)
        self.abandon(adapter, job_id)

        [job] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)

        assert (job.job_id, job.document_id) == (job_id, document_id)
        assert job.workspace_id == workspace_id
        assert before <= job.taken_at <= datetime.now(UTC)
        assert adapter.abandoned_jobs(before, limit=10) == []
        assert adapter.documents_with_live_jobs([document_id]) == {document_id}

    def test_running_it_again_puts_the_same_job_back_at_the_head_once(
        self, adapter: JobQueue
    ) -> None:
        documents = [uuid4(), uuid4(), uuid4()]
        first = adapter.enqueue_processing(documents[0], uuid4())
        second = adapter.enqueue_processing(documents[1], uuid4())
        self.abandon(adapter, first)
        third = adapter.enqueue_processing(documents[2], uuid4())
        [job] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)

        assert adapter.retire_abandoned(job, run_again=True) is True
        assert adapter.retire_abandoned(job, run_again=True) is False

        assert self.waiting(adapter) == [first, second, third]
        assert adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10) == []
        assert adapter.documents_with_live_jobs(documents) == set(documents)
        assert self.failed(adapter) == []

    def test_retiring_it_for_good_records_it_failed(self, adapter: JobQueue) -> None:
        document_id = uuid4()
        job_id = adapter.enqueue_processing(document_id, uuid4())
        self.abandon(adapter, job_id)
        [job] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)

        assert adapter.retire_abandoned(job, run_again=False) is True
        assert adapter.retire_abandoned(job, run_again=True) is False

        assert self.failed(adapter) == [job_id]
        assert self.waiting(adapter) == []
        assert adapter.documents_with_live_jobs([document_id]) == set()

    def test_the_listing_stops_at_the_limit(self, adapter: JobQueue) -> None:
        for _ in range(3):
            self.abandon(adapter, adapter.enqueue_processing(uuid4(), uuid4()))

        assert len(adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=2)) == 2

    def test_one_recovery_turn_per_interval_whoever_asks(self, adapter: JobQueue) -> None:
        interval = timedelta(minutes=5)
        turns = [adapter.take_recovery_turn(interval) for _ in range(3)]
        assert turns == [True, False, False]


class TestInMemoryJobQueue(JobQueueContract):
    @pytest.fixture
    def adapter(self) -> InMemoryJobQueue:
        return InMemoryJobQueue()

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        assert isinstance(adapter, InMemoryJobQueue)
        [(_, document_id, workspace_id)] = [j for j in adapter.jobs if j[0] == job_id]
        return PROCESS_DOCUMENT_JOB, [str(document_id), str(workspace_id)]

    def abandon(self, adapter: JobQueue, job_id: str) -> None:
        assert isinstance(adapter, InMemoryJobQueue)
        adapter.abandon(job_id, datetime.now(UTC))

    def waiting(self, adapter: JobQueue) -> list[str]:
        assert isinstance(adapter, InMemoryJobQueue)
        return [job_id for job_id, _, _ in adapter.jobs]

    def failed(self, adapter: JobQueue) -> list[str]:
        assert isinstance(adapter, InMemoryJobQueue)
        return list(adapter.failed)


class TestRqJobQueue(JobQueueContract):
    @pytest.fixture
    def adapter(self, redis_connection: Redis, redis_url: str) -> RqJobQueue:
        self.connection = redis_connection
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=(1, 5))
        return RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE])

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        job = Job.fetch(job_id, connection=self.connection, serializer=SERIALIZER)
        return str(job.func_name), list(job.args)

    def abandon(self, adapter: JobQueue, job_id: str) -> None:
        job = take(self.connection)
        assert job.id == job_id
        Worker([job.origin], connection=self.connection, serializer=SERIALIZER).prepare_execution(
            job
        )

    def waiting(self, adapter: JobQueue) -> list[str]:
        return rq_queue(self.connection).job_ids

    def failed(self, adapter: JobQueue) -> list[str]:
        registry = FailedJobRegistry(queue=rq_queue(self.connection))
        return registry.get_job_ids()

    def test_the_job_is_waiting_with_its_policy(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        job_id = adapter.enqueue_processing(uuid4(), uuid4())
        queue = Queue(QUEUE, connection=redis_connection, serializer=SERIALIZER)
        assert queue.job_ids == [job_id]
        job = queue.fetch_job(job_id)
        assert job is not None
        assert (job.timeout, job.failure_ttl, job.retries_left) == (30, 120, 2)
        assert job.retry_intervals == [1, 5]

    def test_workers_on_one_redis_share_one_recovery_turn(self, redis_url: str) -> None:
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=())
        workers = [
            RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE]) for _ in range(3)
        ]

        turns = [queue.take_recovery_turn(timedelta(minutes=5)) for queue in workers]

        assert turns == [True, False, False]

    def test_the_payload_is_json(self, adapter: RqJobQueue, redis_connection: Redis) -> None:
        job_id = adapter.enqueue_processing(UUID(int=1), UUID(int=2))
        payload = redis_connection.hget(f"rq:job:{job_id}", "data")
        assert payload is not None
        assert json.loads(zlib.decompress(payload))[0] == PROCESS_DOCUMENT_JOB

    def test_an_unreachable_redis_raises_dependency_unavailable(self) -> None:
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=())
        queue = RqJobQueue(connect("redis://127.0.0.1:1/0"), QUEUE, policy, consumed_queues=[QUEUE])
        with pytest.raises(DependencyUnavailable):
            queue.enqueue_processing(uuid4(), uuid4())
        with pytest.raises(DependencyUnavailable):
            queue.enqueue_processing_many([(uuid4(), uuid4())])
        with pytest.raises(DependencyUnavailable):
            queue.documents_with_live_jobs([uuid4()])

    def test_live_jobs_include_every_consumed_queue_retries_and_the_far_future(
        self, redis_url: str, redis_connection: Redis
    ) -> None:
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=())
        adapter = RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE, "other"])
        elsewhere, retried, scheduled, deferred, orphan = (uuid4() for _ in range(5))
        Queue("other", connection=redis_connection, serializer=SERIALIZER).enqueue_call(
            PROCESS_DOCUMENT_JOB, args=(str(elsewhere), str(uuid4()))
        )
        queue = rq_queue(redis_connection)
        queue.enqueue_in(timedelta(hours=1), PROCESS_DOCUMENT_JOB, str(retried), str(uuid4()))
        queue.enqueue_at(
            datetime(2099, 1, 1, tzinfo=UTC), PROCESS_DOCUMENT_JOB, str(scheduled), str(uuid4())
        )
        blocker = queue.enqueue_call("builtins.print", args=("not ours",))
        queue.enqueue_call(
            PROCESS_DOCUMENT_JOB,
            args=(str(deferred), str(uuid4())),
            depends_on=blocker,
        )

        live = adapter.documents_with_live_jobs([elsewhere, retried, scheduled, deferred, orphan])

        assert live == {elsewhere, retried, scheduled, deferred}

    def test_a_job_of_another_function_or_with_other_arguments_is_not_a_documents_job(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        document_id = uuid4()
        queue = rq_queue(redis_connection)
        queue.enqueue_call("builtins.print", args=(str(document_id), str(uuid4())))
        queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=(str(document_id), str(uuid4()), "extra"))

        assert adapter.documents_with_live_jobs([document_id]) == set()

    def test_a_damaged_job_on_the_queue_hides_no_other_job(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        document_id = uuid4()
        queue = rq_queue(redis_connection)
        for job_id, fields in (("no-data", {"origin": QUEUE}), ("bad-date", {"created_at": "x"})):
            redis_connection.hset(f"rq:job:{job_id}", mapping={"data": b"junk", **fields})
            redis_connection.rpush(queue.key, job_id)
        redis_connection.hdel("rq:job:no-data", "data")
        adapter.enqueue_processing(document_id, uuid4())

        assert adapter.documents_with_live_jobs([document_id, uuid4()]) == {document_id}

    def test_reading_live_jobs_writes_nothing(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        document_id = uuid4()
        adapter.enqueue_processing(document_id, uuid4())
        take(redis_connection)  # taken, never started: RQ's cleanup would record when it saw it
        keys_before = sorted(redis_connection.keys("*"))

        assert adapter.documents_with_live_jobs([document_id]) == {document_id}
        assert sorted(redis_connection.keys("*")) == keys_before

    def test_a_job_taken_and_never_started_is_listed_once_first_seen_before_the_cutoff(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        document_id = uuid4()
        job_id = adapter.enqueue_processing(document_id, uuid4())
        take(redis_connection)  # the worker died between taking the job and recording its start

        assert adapter.abandoned_jobs(datetime.now(UTC) - LATER, limit=10) == []
        [job] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)
        assert (job.job_id, job.document_id) == (job_id, document_id)

        assert adapter.retire_abandoned(job, run_again=True) is True
        assert rq_queue(redis_connection).job_ids == [job_id]
        assert rq_queue(redis_connection).intermediate_queue.get_job_ids() == []

    def test_a_running_job_whose_heartbeat_expired_is_listed_whatever_the_cutoff(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        job_id = adapter.enqueue_processing(uuid4(), uuid4())
        job = take(redis_connection)
        with redis_connection.pipeline() as pipeline:
            Execution.create(job, ttl=0, pipeline=pipeline)  # no heartbeat will ever come
            pipeline.execute()

        [listed] = adapter.abandoned_jobs(datetime.now(UTC) - LATER, limit=10)

        assert listed.job_id == job_id

    def test_a_live_job_and_other_functions_jobs_are_not_listed(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        queue = rq_queue(redis_connection)
        queue.enqueue_call("builtins.print", args=("not ours",))
        job_id = adapter.enqueue_processing(uuid4(), uuid4())
        worker = Worker([queue], connection=redis_connection, serializer=SERIALIZER)
        for _ in range(2):
            worker.prepare_execution(take(redis_connection))

        assert adapter.abandoned_jobs(datetime.now(UTC) - LATER, limit=10) == []
        [ours] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)
        assert ours.job_id == job_id
        assert len(StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)) == 2

    def test_rqs_own_cleanup_never_runs_a_retired_job_again(
        self, adapter: RqJobQueue, redis_connection: Redis
    ) -> None:
        job_id = adapter.enqueue_processing(uuid4(), uuid4())
        self.abandon(adapter, job_id)
        [job] = adapter.abandoned_jobs(datetime.now(UTC) + LATER, limit=10)
        adapter.retire_abandoned(job, run_again=False)

        queue = rq_queue(redis_connection)
        StartedJobRegistry(queue=queue).cleanup(timestamp=datetime.now(UTC).timestamp() + 3600)
        worker = Worker([queue], connection=redis_connection, serializer=SERIALIZER)
        queue.intermediate_queue.cleanup(worker, queue)

        assert queue.job_ids == []
        assert Job.fetch(job_id, connection=redis_connection).get_status() == JobStatus.FAILED


def rq_queue(connection: Redis) -> Queue:
    return Queue(QUEUE, connection=connection, serializer=SERIALIZER)


def take(connection: Redis) -> Job:
    """Take the job at the head of the queue, as a worker's dequeue does."""
    queues = [rq_queue(connection)]
    taken = Queue.dequeue_any(queues, None, connection=connection, serializer=SERIALIZER)
    assert taken is not None
    return taken[0]
