"""Listing abandoned jobs only reads Redis: the port promises the listing takes nothing, and a
write there (such as recording when a job was first seen) would also change what RQ's own
cleanup decides later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis import Redis
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job

from infrastructure.queue import SERIALIZER, JobPolicy, RqJobQueue, connect

QUEUE = "ingestion"


def everything(connection: Redis) -> dict[bytes, tuple[bytes | None, bool]]:
    """Every key with its serialized value and whether it expires."""
    return {
        key: (connection.dump(key), connection.pttl(key) >= 0)
        for key in sorted(connection.scan_iter(count=1000))
    }


def take(queue: Queue) -> Job:
    taken = Queue.dequeue_any([queue], None, connection=queue.connection, serializer=SERIALIZER)
    assert taken is not None
    return taken[0]


def test_listing_abandoned_jobs_leaves_redis_unchanged(
    redis_url: str, redis_connection: Redis
) -> None:
    policy = JobPolicy(job_timeout=30, result_ttl=60, failure_ttl=120, retry_intervals=())
    adapter = RqJobQueue(connect(redis_url), QUEUE, policy, consumed_queues=[QUEUE])
    queue = Queue(QUEUE, connection=redis_connection, serializer=SERIALIZER)
    worker = Worker([queue], connection=redis_connection, serializer=SERIALIZER)
    for _ in range(5):
        adapter.enqueue_processing(uuid4(), uuid4())
    queue.enqueue_call("builtins.print", args=("not ours",))
    never_seen = take(queue)  # taken, never started, not yet seen by RQ's cleanup
    seen_long_ago = take(queue)
    redis_connection.set(
        queue.intermediate_queue.get_first_seen_key(seen_long_ago.id),
        (datetime.now(UTC) - timedelta(hours=1)).timestamp(),
    )
    worker.prepare_execution(take(queue))  # running
    with redis_connection.pipeline() as pipeline:  # its worker stopped reporting
        Execution.create(take(queue), ttl=0, pipeline=pipeline)
        pipeline.execute()
    before = everything(redis_connection)

    cutoffs = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1))
    listed = [job.job_id for cutoff in cutoffs for job in adapter.abandoned_jobs(cutoff, limit=10)]

    assert never_seen.id in listed and seen_long_ago.id in listed
    assert everything(redis_connection) == before
