"""Carrying metrics recorded in a forked work horse back to the worker process.

RQ's `Worker` forks a work horse per job and the horse exits with `os._exit`, so whatever it
records in its own copy of the meter provider is lost. Around each job the worker process opens a
pipe (`MetricsRelay.around_job`); code running in the horse finds the relay's channel, sees it is
not the process that opened it, and writes one compact JSON line per event to the pipe instead of
recording. When the job is over the worker process reads the lines and records them for real.

With a pool of worker processes (`--workers N`), the pool parent serves /metrics but the jobs
run in its forked worker processes. `MetricsRelay.pooled()` opens one more pipe before the pool
forks: every worker process writes what it records (job outcomes, and the lines its horses sent)
to it, and a thread in the pool parent records them as they arrive.

Writes are non-blocking and dropped when the pipe is full (a job emits a handful of lines of
about 100 bytes, far below the 64 KiB pipe buffer, and each line is below PIPE_BUF so it is
written atomically, even with many writers). Without a fork (WORKER_MODE=inline, whose
`SimpleWorker` runs jobs in the worker process, the CLI, tests) `sink()` is the instruments
themselves in the process that serves /metrics, and the pool's pipe in a pool worker process.

WORKER_MODE=pool runs jobs in an executor process started fresh (not forked, so it inherits no
pipe): there `collecting()` keeps what a job records, the executor returns it with the job's
result, and the worker process `replay`s it into its own `sink()`.
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from infrastructure.observability.metrics import IngestionMetrics

_log = logging.getLogger(__name__)
_READ_SIZE = 65536
_UPLINK_DRAIN_SECONDS = 5.0


class MetricsSink(Protocol):
    """Where measurements go: the real instruments, or the pipe to them."""

    def record_job(self, *, queue: str, job_name: str, outcome: str, seconds: float) -> None: ...

    def record_stage(self, stage: str, seconds: float) -> None: ...

    def record_document(
        self, *, outcome: str, size_bytes: int, chunks: int, tokens: int
    ) -> None: ...

    def record_cache(self, *, hits: int, misses: int) -> None: ...

    def record_throttling(self, *, waited_seconds: float, rejections: int) -> None: ...

    def record_executor_restart(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Channel:
    owner_pid: int
    write_fd: int


class _EventSink(MetricsSink):
    """Turns each measurement into one event (a JSON-friendly dict) for `_send`."""

    def record_job(self, *, queue: str, job_name: str, outcome: str, seconds: float) -> None:
        self._send(
            {
                "event": "job",
                "queue": queue,
                "job_name": job_name,
                "outcome": outcome,
                "seconds": seconds,
            }
        )

    def record_stage(self, stage: str, seconds: float) -> None:
        self._send({"event": "stage", "stage": stage, "seconds": seconds})

    def record_document(self, *, outcome: str, size_bytes: int, chunks: int, tokens: int) -> None:
        self._send(
            {
                "event": "document",
                "outcome": outcome,
                "size_bytes": size_bytes,
                "chunks": chunks,
                "tokens": tokens,
            }
        )

    def record_cache(self, *, hits: int, misses: int) -> None:
        self._send({"event": "cache", "hits": hits, "misses": misses})

    def record_throttling(self, *, waited_seconds: float, rejections: int) -> None:
        self._send({"event": "throttling", "seconds": waited_seconds, "rejections": rejections})

    def record_executor_restart(self, reason: str) -> None:
        self._send({"event": "executor_restart", "reason": reason})

    def _send(self, event: dict[str, object]) -> None:
        raise NotImplementedError


class PipeSink(_EventSink):
    """Writes each measurement as one JSON line to a pipe; drops it if the pipe is full."""

    def __init__(self, write_fd: int) -> None:
        self._write_fd = write_fd

    def _send(self, event: dict[str, object]) -> None:
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        if len(line) > select.PIPE_BUF:  # could interleave with another writer's line
            return
        with suppress(OSError):  # full (EAGAIN) or closed: dropping beats blocking the job
            os.write(self._write_fd, line)


class CollectingSink(_EventSink):
    """Keeps each measurement as an event, for a process that hands them over with its result
    (`MetricsRelay.collecting` and `replay`)."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def _send(self, event: dict[str, object]) -> None:
        self.events.append(event)


class MetricsRelay:
    """Per-job pipe from a forked work horse to the worker process's `IngestionMetrics`.

    Use `around_job()` in the worker process around the call that forks (RQ's `execute_job`),
    and `pooled()` in a pool parent around the pool's run. `sink()` gives the right destination
    for the calling process. Not reentrant: one job at a time, as RQ runs them.
    """

    def __init__(self, metrics: IngestionMetrics) -> None:
        self._metrics = metrics
        self._channel: _Channel | None = None
        self._uplink: _Channel | None = None
        self._collector: CollectingSink | None = None

    @contextmanager
    def around_job(self) -> Iterator[None]:
        """Open the pipe for one job; on exit, record what the horse sent through it.

        If no pipe can be opened (descriptor limit), the job runs anyway, unrelayed.
        """
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            _log.warning("no pipe for job metrics; this job's measurements are not relayed")
            yield
            return
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._channel = _Channel(owner_pid=os.getpid(), write_fd=write_fd)
        try:
            yield
        finally:
            self._channel = None
            os.close(write_fd)
            try:
                self._replay(_read_available(read_fd), self._destination())
            finally:
                os.close(read_fd)

    @contextmanager
    def pooled(self) -> Iterator[None]:
        """In a pool parent, around the pool's run: the worker processes it forks inside
        send what they record here, where a reader thread records it as it arrives.

        On exit (all worker processes gone) the rest is read before returning. If no pipe
        can be opened, the pool runs anyway and its measurements stay in its processes.
        """
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            _log.warning("no pipe for pool metrics; worker processes' measurements stay there")
            yield
            return
        os.set_blocking(write_fd, False)
        self._uplink = _Channel(owner_pid=os.getpid(), write_fd=write_fd)
        reader = threading.Thread(
            target=self._read_uplink, args=(read_fd,), name="metrics-uplink", daemon=True
        )
        reader.start()
        try:
            yield
        finally:
            self._uplink = None
            os.close(write_fd)
            reader.join(timeout=_UPLINK_DRAIN_SECONDS)

    @contextmanager
    def collecting(self) -> Iterator[CollectingSink]:
        """In a process that runs jobs for another (an executor), around one job: everything
        recorded inside is kept in the yielded sink's `events`, for the other to `replay`."""
        collector = CollectingSink()
        self._collector = collector
        try:
            yield collector
        finally:
            self._collector = None

    def replay(self, events: list[dict[str, object]]) -> None:
        """Record events collected in another process (`collecting`) where `sink()` says."""
        destination = self.sink()
        for event in events:
            try:
                _record(destination, event)
            except (ValueError, TypeError, KeyError):
                _log.debug("skipped a malformed metrics event from an executor")

    def sink(self) -> MetricsSink:
        """Where the calling process should record: the job's collector inside `collecting`,
        the job's pipe in a work horse forked inside `around_job`, the pool's pipe in a worker
        process forked inside `pooled`, else the instruments themselves."""
        if self._collector is not None:
            return self._collector
        channel = self._channel
        if channel is not None and channel.owner_pid != os.getpid():
            return PipeSink(channel.write_fd)
        return self._destination()

    def _destination(self) -> MetricsSink:
        uplink = self._uplink
        if uplink is not None and uplink.owner_pid != os.getpid():
            return PipeSink(uplink.write_fd)
        return self._metrics

    def _read_uplink(self, read_fd: int) -> None:
        """Record lines from the pool's pipe until every writer has closed it."""
        pending = b""
        try:
            while chunk := os.read(read_fd, _READ_SIZE):
                complete, _, pending = (pending + chunk).rpartition(b"\n")
                self._replay(complete, self._metrics)
        except OSError:
            _log.warning("stopped reading pool metrics", exc_info=True)
        finally:
            os.close(read_fd)

    def _replay(self, data: bytes, destination: MetricsSink) -> None:
        for line in data.splitlines():
            try:
                _record(destination, json.loads(line))
            except (ValueError, TypeError, KeyError):
                _log.debug("skipped a malformed metrics line from a worker process")


def _read_available(read_fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(read_fd, _READ_SIZE)
        except BlockingIOError:  # a descendant still holds the write end: take what is there
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _record(metrics: MetricsSink, event: object) -> None:
    if not isinstance(event, dict):
        raise ValueError("not an event")
    kind = event.get("event")
    if kind == "job":
        metrics.record_job(
            queue=str(event["queue"]),
            job_name=str(event["job_name"]),
            outcome=str(event["outcome"]),
            seconds=_number(event, "seconds"),
        )
    elif kind == "stage":
        metrics.record_stage(str(event["stage"]), _number(event, "seconds"))
    elif kind == "document":
        metrics.record_document(
            outcome=str(event["outcome"]),
            size_bytes=int(_number(event, "size_bytes")),
            chunks=int(_number(event, "chunks")),
            tokens=int(_number(event, "tokens")),
        )
    elif kind == "cache":
        metrics.record_cache(hits=int(_number(event, "hits")), misses=int(_number(event, "misses")))
    elif kind == "throttling":
        metrics.record_throttling(
            waited_seconds=_number(event, "seconds"), rejections=int(_number(event, "rejections"))
        )
    elif kind == "executor_restart":
        metrics.record_executor_restart(str(event["reason"]))
    else:
        raise ValueError(f"unknown event {kind!r}")


def _number(event: dict[str, object], key: str) -> float:
    value = event[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is not a number")
    return float(value)
