"""SIGKILL the worker again and again while it works: every document still ends `ready` once,
with exactly the chunks a clean run makes, and each abandoned one is recovered within its bound:
the ones left `processing`, and the ones whose job was taken but never claimed."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from rq import Queue
from rq.job import Job

from infrastructure.queue import SERIALIZER
from tests.faults.harness import FaultWorld, StatusWatch, now, small_document, wait_until
from tests.fixtures.embedding_server import EmbeddingServer, Provider

DOCUMENTS = 150
KILLS = 12
SEED = 20240611
JOB_TIMEOUT = 2
PROCESSING_LEASE = 3
RECOVERY_INTERVAL = 1
#: Start-up, a scheduling tick and a poll of the watch, beyond the configured times.
MARGIN = timedelta(seconds=5)
#: Seconds the embedding provider takes per request: each job spends them between its claim
#: and its write, so a kill that finds a job live lands while it is processing, however fast
#: the worker mode runs the rest.
EMBEDDING_LATENCY = 0.25
#: Once the last restarted worker consumes, every abandoned document has a job waiting within
#: lease + recovery interval + job timeout (6 s), and at worst all 150 documents are still to run
#: (about 10 s on an idle 2-core machine, plus the provider's latency for each): three times
#: that, and the latency once more.
SETTLE_SECONDS = 3 * (PROCESSING_LEASE + RECOVERY_INTERVAL + JOB_TIMEOUT + 10) + round(
    DOCUMENTS * EMBEDDING_LATENCY
)
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
    """When each kill happened, how long the worker was down after it, and what it abandoned:
    documents left `processing`, and documents left `queued` with their job taken."""

    kills: list[datetime] = field(default_factory=list)
    back_up: list[datetime] = field(default_factory=list)
    abandoned_at: dict[UUID, datetime] = field(default_factory=dict)
    unclaimed_at: dict[UUID, datetime] = field(default_factory=dict)

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

    server = EmbeddingServer(world.settings.embedding_dimension, Provider(EMBEDDING_LATENCY))
    server.start()
    embedder = {
        "EMBEDDER": "openai",
        "EMBEDDING_BASE_URL": server.url,
        "EMBEDDING_MODEL": "test-embedder",
    }
    try:
        watch = StatusWatch(world)
        log = _kill_repeatedly(world, random.Random(SEED), embedder)
        rows = world.wait_for_final(files, timeout=SETTLE_SECONDS)
        watch.stop()
    finally:
        server.stop()

    assert {r.status for r in rows.values()} == {"ready"}, _failures(rows)
    _assert_chunks_exact(world, files)
    _assert_ready_at_most_once(world, files)
    assert len(log.kills) >= 10 and log.abandoned_at, "no kill landed while a job was live"
    rescued = _assert_rescued_within_bound(watch, log)
    ready = [(rows[d].processed_at - k).total_seconds() for d, k in log.abandoned_at.items()]
    FIGURES.update(
        kills=len(log.kills),
        documents=len(files),
        abandoned=len(log.abandoned_at),
        unclaimed=len(log.unclaimed_at),
        rescue_max=max(rescued),
        rescue_median=statistics.median(rescued),
        kill_to_ready_max=max(ready),
        kill_to_ready_median=statistics.median(ready),
    )
    print(f"\nSIGKILL figures: {FIGURES}")


def _kill_repeatedly(world: FaultWorld, rng: random.Random, embedder: dict[str, str]) -> KillLog:
    log = KillLog()
    seen_taken: set[str] = set()
    worker = world.start_worker(**SETTINGS, **embedder)
    for _ in range(KILLS):
        worker.wait_until_consuming()
        if log.kills:
            log.back_up.append(now())
        # The fault schedule: a random moment into the run, then the next moment a job is live.
        time.sleep(rng.uniform(0.05, 1.2))
        _wait_for_a_live_job(world, timeout=5)
        log.kills.append(now())
        worker.kill_everything()
        rows = world.rows()
        for row in rows.values():
            if row.status == "processing":
                log.abandoned_at[row.id] = log.kills[-1]
        taken = _taken_jobs(world)
        for entry, document_id in taken.items():
            if entry not in seen_taken and rows[document_id].status == "queued":
                log.unclaimed_at[document_id] = log.kills[-1]
        seen_taken |= set(taken)
        worker = world.start_worker(**SETTINGS, **embedder)
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


def _taken_jobs(world: FaultWorld) -> dict[str, UUID]:
    """Jobs that workers took and did not end (RQ's started registry and its intermediate list
    of jobs taken but not yet started), each entry with its document."""
    redis = world.client()
    queue = Queue(world.settings.queue_name, connection=redis, serializer=SERIALIZER)
    entries = {
        f"{job_id}:{execution_id}": job_id
        for job_id, execution_id in queue.started_job_registry.get_job_and_execution_ids(
            cleanup=False
        )
    }
    entries.update({f"{job_id}:": job_id for job_id in queue.intermediate_queue.get_job_ids()})
    return {
        entry: UUID(Job.fetch(job_id, connection=redis, serializer=SERIALIZER).args[0])
        for entry, job_id in entries.items()
    }


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
    """Each abandoned document is rescued within lease + recovery interval + job timeout of its
    kill, not counting time with no worker up: one left `processing` leaves it (requeued, or
    retried and finished); one whose job was taken but never claimed leaves `queued` (its job is
    back at the head of the queue and runs)."""
    configured = timedelta(seconds=PROCESSING_LEASE + RECOVERY_INTERVAL + JOB_TIMEOUT)
    stuck = [(d, k, "processing") for d, k in log.abandoned_at.items()]
    stuck += [(d, k, "queued") for d, k in log.unclaimed_at.items()]
    seconds = []
    for document_id, killed, status in stuck:
        rescued = _left_status_after(watch, document_id, status, killed)
        assert rescued is not None, f"{document_id} was never seen leaving {status}"
        took = rescued - killed
        bound = configured + MARGIN + log.downtime_within(killed, rescued)
        assert took <= bound, f"{document_id} took {took}, bound {bound}"
        seconds.append(took.total_seconds())
    return seconds


def _left_status_after(
    watch: StatusWatch, document_id: UUID, status: str, moment: datetime
) -> datetime | None:
    """When the document was first seen in another status than `status` after `moment`."""
    for seen, current in watch.changes.get(document_id, []):
        if seen > moment and current != status:
            return seen
    return None


def _failures(rows: dict) -> list[tuple[str, str | None, str | None]]:
    return [(r.status, r.error_code, r.error_message) for r in rows.values() if r.status != "ready"]
