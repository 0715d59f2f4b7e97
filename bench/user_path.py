"""Our rows through the user's path: `python -m worker --workers N` as a service, then
`ingest add DIR --workspace W [--wait]`, timed from the command's start.

With `--wait` the time is the command's own (it returns when every document is ready or failed);
without, it is until the database shows every document finished (one aggregate query per poll,
as `fleet.wait_for` spaces them).
The worker mode is whatever the worker picks for the embedder (WORKER_MODE unset) unless the run
names one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from redis import Redis

from bench import database
from bench.context import Context, new_queue
from bench.fleet import LOGS, stop, wait_for, wait_until_listening
from bench.ingestion import RUN_TIMEOUT, RunResult, busy_cores_since
from bench.paths import REPO, child_environment, shown


def ingest_command(directory: Path, workspace: uuid.UUID, *, wait: bool) -> list[str]:
    """`ingest add DIR --workspace W [--wait]` (the `ingest` entry point, run as a module)."""
    command = [sys.executable, "-m", "cli", "add", str(directory), "--workspace", str(workspace)]
    return [*command, "--wait", "--timeout", str(RUN_TIMEOUT)] if wait else command


def run_user_path(
    context: Context,
    directory: Path,
    documents: int,
    workers: int,
    *,
    wait: bool,
    label: str,
    **settings: str,
) -> RunResult:
    """One timed `ingest add` of `directory` (`documents` files) with `workers` worker processes."""
    queue = new_queue(label)
    env = child_environment(**context.worker_env(queue, **settings))
    workspace = uuid.uuid4()
    connection = database.connect(context.services.plain_dsn())
    database.empty_tables(connection)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{queue}.log"
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "--workers", str(workers)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            wait_until_listening(
                Redis.from_url(context.services.redis_url), queue, workers, [worker]
            )
            started, cpu = time.perf_counter(), psutil.cpu_times()
            command = subprocess.Popen(
                ingest_command(directory, workspace, wait=wait),
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
            finished = _finished(connection, command, workspace, documents, wait)
            busy = busy_cores_since(cpu)
        finally:
            stop([worker])
    code = command.wait(timeout=RUN_TIMEOUT)
    summary = database.outcomes(connection, workspace)
    connection.close()
    shutil.rmtree(context.storage_root / str(workspace), ignore_errors=True)
    if code != 0 and set(summary["by_outcome"]) <= {"ready"}:  # exit 1 says a document failed
        raise RuntimeError(f"`ingest add` exited with {code}; see {shown(log_path)}")
    return RunResult(
        label,
        workers,
        documents,
        summary["chunks"],
        finished - started,
        summary["by_outcome"],
        workspace,
        [worker.pid],
        busy,
    )


def _finished(
    connection: Any,
    command: subprocess.Popen[bytes],
    workspace: uuid.UUID,
    documents: int,
    wait: bool,
) -> float:
    if wait:
        command.wait(timeout=RUN_TIMEOUT)
        return time.perf_counter()
    return wait_for(
        lambda: database.finished_documents(connection, workspace) >= documents,
        RUN_TIMEOUT,
    )
