"""A warm stop that lands while the worker is idle ends its loop, even when the `StopRequested`
RQ raises from its signal handler is swallowed on the way (as logging swallows it when the
signal lands mid-line at LOG_LEVEL=DEBUG)."""

from __future__ import annotations

import io
import logging
import os
import signal
from pathlib import Path
from uuid import uuid4

from redis import Redis

from bootstrap import build_container
from infrastructure.rq_internals import stop_was_requested
from infrastructure.settings import WorkerMode, load_settings
from worker.runtime import WorkerRuntime, install
from worker.worker import worker_class_for

#: What RQ's idle loop logs (at DEBUG) just before it waits for a job.
IDLE_LINE = ": *** Listening on"


class SignalledMidLine(io.StringIO):
    """A log stream that receives SIGTERM while it writes the idle loop's first line: the
    handler's `StopRequested` is raised inside `StreamHandler.emit`, which swallows it."""

    def __init__(self) -> None:
        super().__init__()
        self.signalled = False

    def write(self, text: str) -> int:
        if IDLE_LINE in text and not self.signalled:
            self.signalled = True
            os.kill(os.getpid(), signal.SIGTERM)
        return super().write(text)


def test_a_stop_swallowed_while_idle_still_ends_the_loop(tmp_path: Path, redis_url: str) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url=redis_url,
        embedder="hashing",
        data_dir=tmp_path,
        worker_mode=WorkerMode.INLINE,
    )
    install(WorkerRuntime(build_container(settings)))
    worker = worker_class_for(settings)(
        [f"idle-{uuid4().hex}"], connection=Redis.from_url(redis_url)
    )
    stream = SignalledMidLine()
    handler = logging.StreamHandler(stream)
    rq_log = logging.getLogger("rq.worker")
    rq_log.addHandler(handler)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.work(burst=False, with_scheduler=False, max_idle_time=3, logging_level="DEBUG")
    finally:
        rq_log.removeHandler(handler)
        for signum, previous in saved.items():
            signal.signal(signum, previous)

    assert stream.signalled
    assert stop_was_requested(worker)
    assert "quitting" not in stream.getvalue(), stream.getvalue()
