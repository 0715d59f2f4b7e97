"""End-to-end runs: documents enqueued -> all finished, for the project and for the baseline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import psutil
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from bench import baseline, database
from bench.context import WORKSPACE, Blob, Context, new_queue
from bench.fleet import bench_worker_command, fleet, our_worker_command, wait_for

RUN_TIMEOUT = 900.0


@dataclass
class RunResult:
    label: str
    workers: int
    documents: int
    chunks: int
    seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)
    workspace_id: uuid.UUID | None = None
    worker_pids: list[int] = field(default_factory=list)
    #: Cores the whole machine kept busy during the run (workers, Postgres, Redis, this harness).
    busy_cores: float | None = None

    @property
    def workspace(self) -> uuid.UUID:
        """The workspace a run of ours registered its documents in (the baseline has none)."""
        if self.workspace_id is None:
            raise ValueError(f"the {self.label} run registered no workspace")
        return self.workspace_id

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds

    @property
    def failed(self) -> int:
        return sum(n for name, n in self.outcomes.items() if name != "ready")


def run_ours(
    context: Context,
    blobs: Sequence[Blob],
    workers: int,
    label: str = "ours",
    watch: Callable[[list[Any]], AbstractContextManager[Any]] | None = None,
    **settings: str,
) -> RunResult:
    """Register `blobs` as `queued` documents, then time enqueue -> every one ready or failed."""
    from bootstrap import job_policy
    from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine
    from infrastructure.queue import RqJobQueue

    queue = new_queue(label)
    env = context.worker_env(queue, **settings)
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    engine = make_engine(context.services.database_url)
    workspace = WORKSPACE
    ids = database.register_documents(SqlAlchemyUnitOfWorkFactory(engine), workspace, blobs)
    engine.dispose()
    redis = Redis.from_url(context.services.redis_url)
    jobs = RqJobQueue(redis, queue, job_policy(context.settings(queue)), consumed_queues=[queue])
    with (
        fleet(our_worker_command(), workers, env, context.services.redis_url, queue) as procs,
        watch(procs) if watch else nullcontext(),
    ):
        started, cpu = time.perf_counter(), psutil.cpu_times()
        for document_id in ids:
            jobs.enqueue_processing(document_id, workspace)
        finished = wait_for(
            lambda: database.finished_documents(connection, workspace) >= len(ids), RUN_TIMEOUT
        )
        busy = busy_cores_since(cpu)
        pids = [p.pid for p in procs]
    summary = database.outcomes(connection, workspace)
    connection.close()
    return RunResult(
        label,
        workers,
        len(ids),
        summary["chunks"],
        finished - started,
        summary["by_outcome"],
        workspace,
        pids,
        busy,
    )


def busy_cores_since(start: Any) -> float:
    """How many cores were busy on average since `start` (a `psutil.cpu_times()`)."""
    now = psutil.cpu_times()
    total = sum(now) - sum(start)
    idle = (now.idle - start.idle) + (getattr(now, "iowait", 0.0) - getattr(start, "iowait", 0.0))
    return (total - idle) / total * (psutil.cpu_count() or 1) if total > 0 else 0.0


def run_baseline(context: Context, blobs: Sequence[Blob], workers: int) -> RunResult:
    """The same documents through the hand-written baseline on plain RQ workers."""
    queue = new_queue("baseline")
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    ids = [uuid.uuid4() for _ in blobs]
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO bench_baseline_documents (id, filename, status, chunk_count)"
            " VALUES (%s, %s, 'queued', 0)",
            [(i, b.filename) for i, b in zip(ids, blobs, strict=True)],
        )
    redis = Redis.from_url(context.services.redis_url)
    rq_queue = Queue(queue, connection=redis, serializer=JSONSerializer)
    env = {baseline.DATABASE_URL_VARIABLE: context.services.plain_dsn()}
    command = bench_worker_command(
        "rq", queue, context.services.redis_url, "--preload", "bench.baseline"
    )
    with fleet(command, workers, env, context.services.redis_url, queue) as procs:
        started, cpu = time.perf_counter(), psutil.cpu_times()
        for document_id, blob in zip(ids, blobs, strict=True):
            rq_queue.enqueue_call(
                baseline.BASELINE_JOB,
                args=(str(document_id), str(blob.path)),
                timeout=600,
                result_ttl=600,
                failure_ttl=3600,
            )
        finished = wait_for(lambda: _baseline_done(connection, rq_queue) >= len(ids), RUN_TIMEOUT)
        busy = busy_cores_since(cpu)
        pids = [p.pid for p in procs]
    summary = _baseline_outcomes(connection, rq_queue)
    connection.close()
    return RunResult(
        "baseline",
        workers,
        len(ids),
        summary["chunks"],
        finished - started,
        summary["by_outcome"],
        None,
        pids,
        busy,
    )


def _baseline_done(connection: Any, queue: Queue) -> int:
    row = connection.execute(
        "SELECT count(*) FROM bench_baseline_documents WHERE status = 'ready'"
    ).fetchone()
    return int(row[0]) + int(queue.connection.zcard(queue.failed_job_registry.key))


def _baseline_outcomes(connection: Any, queue: Queue) -> dict[str, Any]:
    row = connection.execute(
        "SELECT count(*), coalesce(sum(chunk_count), 0) FROM bench_baseline_documents"
        " WHERE status = 'ready'"
    ).fetchone()
    failed = int(queue.connection.zcard(queue.failed_job_registry.key))
    by_outcome = {"ready": int(row[0])}
    if failed:
        by_outcome["failed"] = failed
    return {"by_outcome": by_outcome, "chunks": int(row[1])}
