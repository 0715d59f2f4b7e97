"""Per-job overhead: no-op jobs drained by our worker class and by the plain RQ class it extends."""

from __future__ import annotations

import json
import subprocess

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from bench.context import Context, new_queue
from bench.fleet import bench_worker_command
from bench.jobs import NOOP_JOB
from bench.paths import REPO, child_environment
from bench.stats import Outcome, Target, ratio

KINDS = ("ours", "rq")


def new_outcome(jobs: int) -> Outcome:
    outcome = Outcome(
        "overhead",
        f"Per-job overhead: {jobs} no-op jobs/s, our worker vs plain `rq.Worker`",
        Target(">=", 0.95, "×"),
    )
    outcome.add_series("ours (IngestionWorker)", "jobs/s")
    outcome.add_series("plain rq.Worker", "jobs/s")
    return outcome


def measure(context: Context, outcome: Outcome, jobs: int, repetition: int) -> None:
    """One drain per worker kind, in alternating order across repetitions."""
    kinds = KINDS if repetition % 2 == 0 else KINDS[::-1]
    for kind in kinds:
        rate = _drain(context, kind, jobs)
        outcome.series[KINDS.index(kind)].add(rate)
    ours, plain = (s.median for s in outcome.series)
    outcome.value = ratio(ours, plain)


def _drain(context: Context, kind: str, jobs: int) -> float:
    queue_name = new_queue(f"noop-{kind}")
    queue = Queue(
        queue_name, connection=Redis.from_url(context.services.redis_url), serializer=JSONSerializer
    )
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(
            [Queue.prepare_data(NOOP_JOB, result_ttl=600) for _ in range(jobs)], pipeline=pipe
        )
        pipe.execute()
    extra = ("--burst", "--allow-noop") if kind == "ours" else ("--burst",)
    command = bench_worker_command(kind, queue_name, context.services.redis_url, *extra)
    result = subprocess.run(
        command,
        cwd=REPO,
        env=child_environment(**context.worker_env(queue_name)),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} worker failed: {result.stderr[-2000:]}")
    times = json.loads(result.stdout.strip().splitlines()[-1])
    finished = queue.connection.zcard(queue.finished_job_registry.key)
    if finished != jobs:
        raise RuntimeError(f"{kind} worker finished {finished} of {jobs} no-op jobs")
    return jobs / (times["finished"] - times["started"])
