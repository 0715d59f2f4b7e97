"""The `JobQueue` contract: every adapter enqueues the stable job with JSON-able arguments."""

from __future__ import annotations

import json
import zlib
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from application.errors import DependencyUnavailable
from application.ports import JobQueue
from infrastructure.memory import InMemoryJobQueue
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER, JobPolicy, RqJobQueue, connect

QUEUE = "ingestion"


class JobQueueContract:
    """Tests every `JobQueue` adapter must pass; subclasses provide `adapter` and `enqueued`."""

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        """The dotted function path and the arguments of the job `job_id`."""
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

    def test_unfinished_jobs_counts_what_was_enqueued(self, adapter: JobQueue) -> None:
        assert adapter.unfinished_jobs() == 0
        adapter.enqueue_processing(uuid4(), uuid4())
        adapter.enqueue_processing(uuid4(), uuid4())
        assert adapter.unfinished_jobs() == 2

    def test_the_same_document_may_be_enqueued_twice(self, adapter: JobQueue) -> None:
        document_id, workspace_id = uuid4(), uuid4()
        first = adapter.enqueue_processing(document_id, workspace_id)
        second = adapter.enqueue_processing(document_id, workspace_id)
        assert first != second


class TestInMemoryJobQueue(JobQueueContract):
    @pytest.fixture
    def adapter(self) -> InMemoryJobQueue:
        return InMemoryJobQueue()

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        assert isinstance(adapter, InMemoryJobQueue)
        [(_, document_id, workspace_id)] = [j for j in adapter.jobs if j[0] == job_id]
        return PROCESS_DOCUMENT_JOB, [str(document_id), str(workspace_id)]


class TestRqJobQueue(JobQueueContract):
    @pytest.fixture
    def adapter(self, redis_connection: Redis, redis_url: str) -> RqJobQueue:
        self.connection = redis_connection
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=(1, 5))
        return RqJobQueue(connect(redis_url), QUEUE, policy)

    def enqueued(self, adapter: JobQueue, job_id: str) -> tuple[str, list[object]]:
        job = Job.fetch(job_id, connection=self.connection, serializer=SERIALIZER)
        return str(job.func_name), list(job.args)

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

    def test_the_payload_is_json(self, adapter: RqJobQueue, redis_connection: Redis) -> None:
        job_id = adapter.enqueue_processing(UUID(int=1), UUID(int=2))
        payload = redis_connection.hget(f"rq:job:{job_id}", "data")
        assert payload is not None
        assert json.loads(zlib.decompress(payload))[0] == PROCESS_DOCUMENT_JOB

    def test_an_unreachable_redis_raises_dependency_unavailable(self) -> None:
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120)
        queue = RqJobQueue(connect("redis://127.0.0.1:1/0"), QUEUE, policy)
        with pytest.raises(DependencyUnavailable):
            queue.enqueue_processing(uuid4(), uuid4())
        with pytest.raises(DependencyUnavailable):
            queue.unfinished_jobs()

    def test_unfinished_jobs_include_every_consumed_queue_and_retries(
        self, redis_url: str, redis_connection: Redis
    ) -> None:
        policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120)
        adapter = RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE, "other"])
        Queue("other", connection=redis_connection, serializer=SERIALIZER).enqueue_call(
            PROCESS_DOCUMENT_JOB, args=(str(uuid4()), str(uuid4()))
        )
        retry_later = Queue(QUEUE, connection=redis_connection, serializer=SERIALIZER)
        retry_later.enqueue_in(timedelta(hours=1), PROCESS_DOCUMENT_JOB, str(uuid4()), str(uuid4()))
        assert adapter.unfinished_jobs() == 2
