"""What the worker checks of a job taken from Redis before running it: its lifetimes are capped
by the settings, its arguments have the types a call needs, its payload inflates to a bound."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job

from application.errors import InvalidJobArgument, UndecodableJob
from bootstrap import build_container
from infrastructure.queue import PROCESS_DOCUMENT_JOB, SERIALIZER
from infrastructure.settings import Settings, load_settings
from worker.runtime import WorkerRuntime, install
from worker.worker import (
    AllowlistedJob,
    IngestionWorkerMixin,
    _job_fields,
    is_permanent,
    worker_class_for,
)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url=redis_url,
        data_dir=tmp_path,
        job_timeout=60,
        result_ttl=100,
        failure_ttl=1000,
    )


@pytest.fixture
def worker(settings: Settings, redis_connection: Redis) -> Iterator[IngestionWorkerMixin]:
    install(WorkerRuntime(build_container(settings)))
    try:
        yield worker_class_for(settings)(["checks"], connection=redis_connection)
    finally:
        install(None)


def _stored(connection: Redis, **fields: object) -> str:
    """A job hash written straight into Redis, as an outside client could; returns its id."""
    job = Job.create(PROCESS_DOCUMENT_JOB, connection=connection, serializer=SERIALIZER)
    job.save()
    if fields:
        connection.hset(job.key, mapping={k: v for k, v in fields.items()})  # type: ignore[misc]
    return job.id


def _fetched(connection: Redis, job_id: str) -> AllowlistedJob:
    return AllowlistedJob.fetch(job_id, connection=connection, serializer=SERIALIZER)


@pytest.mark.parametrize("timeout", ["0", "-5", "abc", "", "1000000"])
def test_a_timeout_that_is_not_a_positive_number_within_job_timeout_becomes_job_timeout(
    worker: IngestionWorkerMixin, redis_connection: Redis, timeout: str
) -> None:
    job = _fetched(redis_connection, _stored(redis_connection, timeout=timeout))

    worker._cap_lifetimes(job)

    assert job.timeout == 60


def test_a_timeout_within_job_timeout_is_kept(
    worker: IngestionWorkerMixin, redis_connection: Redis
) -> None:
    job = _fetched(redis_connection, _stored(redis_connection, timeout="30"))

    worker._cap_lifetimes(job)

    assert job.timeout == 30


@pytest.mark.parametrize(
    ("stored", "result_ttl", "failure_ttl"),
    [
        ({"result_ttl": "-1", "failure_ttl": "-1"}, 100, 1000),
        ({"result_ttl": "99999999", "failure_ttl": "99999999"}, 100, 1000),
        ({"result_ttl": "junk", "failure_ttl": "junk"}, 100, 1000),
        ({}, 100, 1000),
        ({"result_ttl": "0", "failure_ttl": "10"}, 0, 10),
    ],
)
def test_result_and_failure_lifetimes_are_capped_by_the_settings(
    worker: IngestionWorkerMixin,
    redis_connection: Redis,
    stored: dict[str, str],
    result_ttl: int,
    failure_ttl: int,
) -> None:
    job = _fetched(redis_connection, _stored(redis_connection, **stored))

    worker._cap_lifetimes(job)

    assert (job.result_ttl, job.failure_ttl) == (result_ttl, failure_ttl)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(None, {}), (7, {}), ([], None), ([], [1, 2]), ("ab", {})],
    ids=["args null", "args int", "kwargs null", "kwargs list", "args string"],
)
def test_arguments_of_the_wrong_types_are_an_invalid_argument(
    redis_connection: Redis, args: object, kwargs: object
) -> None:
    payload = SERIALIZER.dumps((PROCESS_DOCUMENT_JOB, None, args, kwargs))
    job = _fetched(redis_connection, _stored(redis_connection, data=zlib.compress(payload)))

    assert _job_fields(job) == {"job_id": job.id}, "naming the job's log context must not fail"
    with pytest.raises(InvalidJobArgument) as raised:
        _ = job.func

    assert is_permanent(raised.value)


def test_a_payload_that_inflates_past_the_bound_is_refused_undecoded(
    redis_connection: Redis,
) -> None:
    bomb = zlib.compress(b"[" + b" " * (64 << 20) + b"]", 9)
    job = _fetched(redis_connection, _stored(redis_connection, data=bomb))

    with pytest.raises(UndecodableJob, match="inflates past"):
        _ = job.func

    assert len(job.data) < 2 << 20
