"""SIGKILL the worker again and again while it works: every document still ends `ready` once,
with exactly the chunks a clean run makes, and each abandoned one is recovered within its bound."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from rq.job import Job

from infrastructure.queue import SERIALIZER
from tests.faults.harness import FaultWorld, StatusWatch, now, small_document, wait_until

DOCUMENTS = 150
KILLS = 12
SEED = 20240611
JOB_TIMEOUT = 2
PROCESSING_LEASE = 3
RECOVERY_INTERVAL = 1
#: Start-up, a scheduling tick and a poll of the watch, beyond the configured times.
MARGIN = timedelta(seconds=5)
SETTINGS = {
    "JOB_TIMEOUT": str(JOB_TIMEOUT),
    "PROCESSING_LEASE": str(PROCESSING_LEASE),
    "RECOVERY_INTERVAL": str(RECOVERY_INTERVAL),
    "MAX_ATTEMPTS": "50",
}

#: Figures the fault suite reports (read by the summary at the end of the module).
FIGURES: dict[str, object] = {}


@dataclass
class KillLog:
    """When each kill happened, how long the worker was down after it, and what it abandoned."""

    kills: list[datetime] = field(default_factory=list)
    back_up: list[datetime] = field(default_factory=list)
    abandoned_at: dict[UUID, datetime] = field(default_factory=dict)

    def downtime_within(self, start: datetime, end: datetime) -> timedelta:
        """How long no worker was consuming between `start` and `end`."""
        down = timedelta()
        for killed, up in zip(self.kills, self.back_up, strict=True):
            overlap = min(up, end) - max(killed, start)
            down += max(overlap, timedelta())
        return down


def test_repeated_sigkills_lose_and_duplicate_nothing(world: FaultWorld) -> None:
    workspace = uuid4()
    files = {}
    for index in range(DOCUMENTS):
        name, data = small_document(index)
        files[world.submit(workspace, name, data).id] = (name, data)

    watch = StatusWatch(world)
    log = _kill_repeatedly(world, random.Random(SEED))
    # generous: on a loaded 2-core machine the restarts alone take a minute or more
    rows = world.wait_for_final(files, timeout=300)
    watch.stop()

    assert {r.status for r in rows.values()} == {"ready"}, _failures(rows)
    _assert_chunks_exact(world, files)
    _assert_ready_at_most_once(world, files)
    rescued = _assert_rescued_within_bound(watch, log)
    ready = [(rows[d].processed_at - k).total_seconds() for d, k in log.abandoned_at.items()]
    FIGURES.update(
        kills=len(log.kills),
        documents=len(files),
        abandoned=len(log.abandoned_at),
        rescue_max=max(rescued),
        rescue_median=statistics.median(rescued),
        kill_to_ready_max=max(ready),
        kill_to_ready_median=statistics.median(ready),
    )
    print(f"\nSIGKILL figures: {FIGURES}")
    assert len(log.kills) >= 10 and log.abandoned_at


def _kill_repeatedly(world: FaultWorld, rng: random.Random) -> KillLog:
    log = KillLog()
    worker = world.start_worker(**SETTINGS)
    for _ in range(KILLS):
        worker.wait_until_consuming()
        if log.kills:
            log.back_up.append(now())
        # The fault schedule: a random moment into the run, then the next moment a job is live.
        time.sleep(rng.uniform(0.05, 1.2))
        _wait_for_a_live_job(world, timeout=5)
        log.kills.append(now())
        worker.kill_everything()
        for row in world.rows().values():
            if row.status == "processing":
                log.abandoned_at[row.id] = log.kills[-1]
        worker = world.start_worker(**SETTINGS)
    worker.wait_until_consuming()
    log.back_up.append(now())
    return log


def _wait_for_a_live_job(world: FaultWorld, timeout: float) -> None:
    """Return once a document is `processing`, or after `timeout` when none is left to do."""
    try:
        wait_until(
            lambda: any(r.status == "processing" for r in world.rows().values()), timeout, "a job"
        )
    except AssertionError:
        return


def _assert_chunks_exact(world: FaultWorld, files: dict[UUID, tuple[str, bytes]]) -> None:
    stored = world.chunk_texts()
    rows = world.rows(files)
    for document_id, (name, data) in files.items():
        expected = world.expected_chunks(name, data)
        ordinals = [ordinal for ordinal, _ in stored.get(document_id, [])]
        assert ordinals == list(range(len(expected))), f"{name}: ordinals {ordinals}"
        assert [content for _, content in stored[document_id]] == expected, name
        assert rows[document_id].chunk_count == len(expected), name


def _assert_ready_at_most_once(world: FaultWorld, files: dict[UUID, tuple[str, bytes]]) -> None:
    """No document's chunks were written by two successful jobs (later runs are `unchanged`)."""
    redis = world.client()
    readied: dict[str, int] = {}
    for key in redis.scan_iter("rq:job:*"):
        job_id = key.decode().removeprefix("rq:job:")
        if ":" in job_id:
            continue
        job = Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
        result = job.latest_result()
        value = result.return_value if result is not None else None
        if isinstance(value, dict) and value.get("status") == "ready":
            document = str(value["document_id"])
            readied[document] = readied.get(document, 0) + 1
    assert max(readied.values()) == 1, {d: n for d, n in readied.items() if n > 1}
    assert set(readied) <= {str(d) for d in files}
    assert len(readied) >= len(files) - KILLS


def _assert_rescued_within_bound(watch: StatusWatch, log: KillLog) -> list[float]:
    """Each abandoned document leaves `processing` (requeued, or retried and finished) within
    lease + recovery interval + job timeout of its kill, not counting time with no worker up."""
    configured = timedelta(seconds=PROCESSING_LEASE + RECOVERY_INTERVAL + JOB_TIMEOUT)
    seconds = []
    for document_id, killed in log.abandoned_at.items():
        rescued = watch.left_processing_after(document_id, killed)
        assert rescued is not None, f"{document_id} was never seen leaving processing"
        took = rescued - killed
        bound = configured + MARGIN + log.downtime_within(killed, rescued)
        assert took <= bound, f"{document_id} took {took}, bound {bound}"
        seconds.append(took.total_seconds())
    return seconds


def _failures(rows: dict) -> list[tuple[str, str | None, str | None]]:
    return [(r.status, r.error_code, r.error_message) for r in rows.values() if r.status != "ready"]
