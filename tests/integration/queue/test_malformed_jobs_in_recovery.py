"""A job hash in a queue's intermediate list that cannot be parsed does not stop recovery: the
listing of abandoned jobs skips it (and still lists the well-formed job beside it, also one whose
timeout is not a number), and the worker's quarantine moves it to the failed registry with the
reason `undecodable_job`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis import Redis
from rq import Queue
from rq.job import Job

from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER, JobPolicy, RqJobQueue, connect
from infrastructure.rq_internals import intermediate_list_key, quarantine_undecodable_jobs

QUEUE = "ingestion"


def _taken_by_a_dead_worker(queue: Queue, **fields: str) -> str:
    """A processing job moved to the intermediate list (as a worker's dequeue does), then its
    hash changed by `fields`."""
    job = queue.enqueue_call(PROCESS_DOCUMENT_JOB, args=(str(uuid4()), str(uuid4())))
    connection = queue.connection
    connection.lrem(queue.key, 0, job.id)
    connection.rpush(intermediate_list_key(queue), job.id)
    if fields:
        connection.hset(job.key, mapping=fields)  # type: ignore[arg-type]
    return job.id


def test_an_unparseable_job_is_skipped_by_the_listing_and_quarantined(
    redis_url: str, redis_connection: Redis
) -> None:
    policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=())
    adapter = RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE])
    queue = Queue(QUEUE, connection=redis_connection, serializer=SERIALIZER)
    broken = _taken_by_a_dead_worker(queue, status="bogus", timeout="abc")
    odd_timeout = _taken_by_a_dead_worker(queue, timeout="abc")
    sound = _taken_by_a_dead_worker(queue)

    listed = adapter.abandoned_jobs(datetime.now(UTC) + timedelta(hours=1), limit=10)

    assert {job.job_id for job in listed} == {odd_timeout, sound}

    quarantined = quarantine_undecodable_jobs(queue, failure_ttl=120)

    assert quarantined == [broken]
    assert broken.encode() not in redis_connection.lrange(intermediate_list_key(queue), 0, -1)
    assert broken in queue.failed_job_registry.get_job_ids()
    reason = redis_connection.hget(Job.key_for(broken), "exc_info")
    assert reason is not None and reason.decode().startswith("undecodable_job: ")
    assert odd_timeout in [
        i.decode() for i in redis_connection.lrange(intermediate_list_key(queue), 0, -1)
    ]
