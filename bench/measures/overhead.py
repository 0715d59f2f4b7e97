"""Per-job overhead: no-op jobs drained by each of our worker classes and by the plain RQ class
it extends (`PooledIngestionWorker` vs `rq.SimpleWorker` for WORKER_MODE=pool, the default, whose
no-op jobs run in its executor process; `IngestionWorker` vs `rq.Worker` for WORKER_MODE=fork;
`InlineIngestionWorker` vs `rq.SimpleWorker` for WORKER_MODE=inline).

Each rate is jobs over the time from the first job's start to the last one's end, as RQ
records them: what a worker does once when it starts (the pool's executor process builds its
container) is not a per-job cost. The ratio is against plain RQ in a bare process. A third
drain runs the plain class in a process that first loads what ours loads: in fork mode every
job forks the whole process, so that drain tells what the worker class costs apart from the size
of what it must hold.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.context import Context, new_queue
from bench.fleet import bench_worker_command
from bench.jobs import NOOP_JOB
from bench.measures import warm_start
from bench.paths import REPO, child_environment
from bench.stats import Outcome, Target, ratio

KINDS = ("ours", "rq", "rq-loaded")
_KIND_FLAGS = {"ours": ("--allow-noop",), "rq-loaded": ("--load-stack",)}
MODES = {
    "pool": ("PooledIngestionWorker", "rq.SimpleWorker"),
    "fork": ("IngestionWorker", "rq.Worker"),
    "inline": ("InlineIngestionWorker", "rq.SimpleWorker"),
}
#: What each mode's row aims for: handing each job to the executor and back costs a little.
_TARGETS = {"pool": 0.90, "fork": 0.95, "inline": 0.95}


@dataclass
class OverheadOutcomes:
    """One row per WORKER_MODE, and the pool's warm start."""

    by_mode: dict[str, Outcome]
    warm_start: Outcome

    def all(self) -> list[Outcome]:
        return [*self.by_mode.values(), self.warm_start]


def new_outcomes(jobs: int) -> OverheadOutcomes:
    return OverheadOutcomes(
        {mode: _new_outcome(jobs, mode) for mode in MODES}, warm_start.new_outcome()
    )


def _new_outcome(jobs: int, mode: str) -> Outcome:
    ours, plain = MODES[mode]
    outcome = Outcome(
        "overhead",
        f"Per-job overhead, WORKER_MODE={mode}{' (the default)' if mode == 'pool' else ''}: "
        f"{jobs} no-op jobs/s, `{ours}` vs plain `{plain}`",
        Target(">=", _TARGETS[mode], "×"),
    )
    outcome.add_series(f"ours ({ours})", "jobs/s")
    outcome.add_series(f"plain {plain}", "jobs/s")
    outcome.add_series(f"plain {plain}, ingestion stack loaded first", "jobs/s")
    return outcome


def measure(context: Context, outcomes: OverheadOutcomes, jobs: int, repetition: int) -> None:
    """One drain per worker kind and mode, in alternating order across repetitions, then the
    warm starts."""
    kinds = KINDS if repetition % 2 == 0 else KINDS[::-1]
    for mode, outcome in outcomes.by_mode.items():
        for kind in kinds:
            rate = _drain(context, kind, mode, jobs)
            outcome.series[KINDS.index(kind)].add(rate)
        ours, plain, loaded = (s.median for s in outcome.series)
        outcome.value = ratio(ours, plain)
        against_loaded = ratio(ours, loaded)
        if against_loaded is not None:
            outcome.notes = [
                f"Against plain `{MODES[mode][1]}` with the ingestion stack loaded first: "
                f"{against_loaded:.2f}×."
            ]
    warm_start.measure(context, outcomes.warm_start)


def _drain(context: Context, kind: str, mode: str, jobs: int) -> float:
    queue_name = new_queue(f"noop-{kind}-{mode}")
    queue = Queue(
        queue_name, connection=Redis.from_url(context.services.redis_url), serializer=JSONSerializer
    )
    with queue.connection.pipeline() as pipe:
        enqueued = queue.enqueue_many(
            [Queue.prepare_data(NOOP_JOB, result_ttl=600) for _ in range(jobs)], pipeline=pipe
        )
        pipe.execute()
    extra = ("--burst", "--mode", mode) + _KIND_FLAGS.get(kind, ())
    command = bench_worker_command(
        kind.removesuffix("-loaded"), queue_name, context.services.redis_url, *extra
    )
    result = subprocess.run(
        command,
        cwd=REPO,
        env=child_environment(**context.worker_env(queue_name, WORKER_MODE=mode)),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} worker ({mode}) failed: {result.stderr[-2000:]}")
    finished = queue.connection.zcard(queue.finished_job_registry.key)
    if finished != jobs:
        raise RuntimeError(f"{kind} worker ({mode}) finished {finished} of {jobs} no-op jobs")
    return jobs / _busy_seconds(queue, [job.id for job in enqueued])


def _busy_seconds(queue: Queue, job_ids: list[str]) -> float:
    """Seconds from the first job's start to the last job's end, as RQ recorded them: the
    worker's own start-up (its executor process, for WORKER_MODE=pool) is not per-job cost."""
    drained = [job for job in Job.fetch_many(job_ids, queue.connection, JSONSerializer) if job]
    starts = [job.started_at for job in drained if job.started_at is not None]
    ends = [job.ended_at for job in drained if job.ended_at is not None]
    return (max(ends) - min(starts)).total_seconds()
