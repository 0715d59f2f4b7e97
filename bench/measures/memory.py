"""Memory: peak RSS of the work horse processing the largest PDF and a large text file, above the
idle worker's RSS. Read from the kernel's high-water mark (`VmHWM`) of every child of the worker;
each file in a worker of its own, started fresh.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psutil
from redis import Redis

from bench import database
from bench.context import WORKSPACE, Blob, Context, new_queue
from bench.corpus import CorpusFile
from bench.fleet import fleet, our_worker_command
from bench.paths import OUT
from bench.stats import Outcome, Target

_MB = 1024 * 1024


def new_outcome(text_mb: int) -> Outcome:
    outcome = Outcome(
        "memory",
        f"Memory: peak RSS above the idle worker (largest PDF; {text_mb} MB text file)",
        Target("<", 300.0, "MB"),
        columns=(2, 0),
    )
    outcome.add_series("idle worker RSS", "MB")
    outcome.add_series("largest PDF: horse peak above idle", "MB")
    outcome.add_series(f"{text_mb} MB text: horse peak above idle", "MB")
    return outcome


def big_text_file(megabytes: int) -> Path:
    """A UTF-8 text file of `megabytes` MB made of git's documentation, cached."""
    path = OUT / f"text-{megabytes}mb.txt"
    if path.exists() and path.stat().st_size >= megabytes * _MB:
        return path
    sources = sorted(Path("/usr/share/doc/git-doc").glob("*.txt"))
    body = "\n\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sources)
    body = body or ("All work and no play makes Jack a dull boy. " * 1000)
    repeats = megabytes * _MB // len(body.encode()) + 1
    path.write_text((body + "\n\n") * repeats, encoding="utf-8")
    return path


def measure(context: Context, outcome: Outcome, text_mb: int) -> None:
    from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine
    from infrastructure.queue import JobPolicy, RqJobQueue
    from infrastructure.storage.local import LocalBlobStorage

    largest = context.corpus.largest("pdf")
    text = big_text_file(text_mb)
    storage = LocalBlobStorage(context.storage_root)
    blobs: list[Blob] = []
    if largest is not None:
        blobs.append(context.upload(storage, largest, "memory"))
    blobs.append(context.upload(storage, CorpusFile(text, "text", text.stat().st_size), "memory"))
    limit = str(max(200 * _MB, 2 * text.stat().st_size))
    queue = new_queue("memory")
    env = context.worker_env(queue, MAX_FILE_BYTES=limit, MAX_CHARS=limit, MAX_PAGES="100000")
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    engine = make_engine(context.services.database_url)
    workspace = WORKSPACE  # the workspace the corpus was uploaded under
    ids = database.register_documents(SqlAlchemyUnitOfWorkFactory(engine), workspace, blobs)
    engine.dispose()
    jobs = RqJobQueue(
        Redis.from_url(context.services.redis_url),
        queue,
        JobPolicy(job_timeout=1800, result_ttl=600, failure_ttl=600, retry_intervals=()),
        consumed_queues=[queue],
    )
    series = outcome.series[1:] if largest is not None else outcome.series[2:]
    for document_id, target in zip(ids, series, strict=True):
        # A fresh worker per file: what one job leaves resident (the largest PDF leaves about
        # 90 MB that malloc_trim does not give back) must not count against the next file.
        with fleet(our_worker_command(), 1, env, context.services.redis_url, queue) as processes:
            worker = psutil.Process(processes[0].pid)
            time.sleep(1.0)
            idle = worker.memory_info().rss
            outcome.series[0].add(idle / _MB)
            jobs.enqueue_processing(document_id, workspace)
            peak = _peak_while(worker, lambda d=document_id: _finished(connection, workspace, d))
            target.add(max(0, peak - idle) / _MB)
    codes = database.outcomes(connection, workspace)["by_outcome"]
    outcome.notes.append(f"outcomes: {codes}; limits raised to {int(limit) // _MB} MB for this run")
    connection.close()
    outcome.value = max((s.median or 0.0) for s in outcome.series[1:] if s.samples)


def _finished(connection: object, workspace: uuid.UUID, document_id: uuid.UUID) -> bool:
    row = connection.execute(  # type: ignore[attr-defined]
        "SELECT status FROM documents WHERE id = %s", (document_id,)
    ).fetchone()
    return bool(row and row[0] in ("ready", "failed"))


def _peak_while(worker: psutil.Process, done: object, timeout: float = 900.0) -> int:
    """The largest `VmHWM` of the worker's children, sampled until `done()`; jobs run one by one."""
    peak = 0
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        for child in worker.children(recursive=True):
            peak = max(peak, _high_water_mark(child.pid))
        if time.monotonic() > deadline:
            raise TimeoutError("the memory run did not finish")
        time.sleep(0.005)
    return peak


def _high_water_mark(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
