"""Carrying metrics recorded in a forked work horse back to the worker process.

RQ's `Worker` forks a work horse per job and the horse exits with `os._exit`, so whatever it
records in its own copy of the meter provider is lost. Around each job the worker process opens a
pipe (`MetricsRelay.around_job`); code running in the horse finds the relay's channel, sees it is
not the process that opened it, and writes one compact JSON line per event to the pipe instead of
recording. When the job is over the worker process reads the lines and records them for real.

Writes are non-blocking and dropped when the pipe is full (a job emits a handful of lines of
about 100 bytes, far below the 64 KiB pipe buffer, and each line is below PIPE_BUF so it is
written atomically). Without a fork (SimpleWorker, CLI, tests) events are recorded directly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

from infrastructure.observability.metrics import IngestionMetrics

_log = logging.getLogger(__name__)
_READ_SIZE = 65536


class MetricsSink(Protocol):
    """Where per-document measurements go: the real instruments, or the pipe to them."""

    def record_stage(self, stage: str, seconds: float) -> None: ...

    def record_document(
        self, *, outcome: str, size_bytes: int, chunks: int, tokens: int
    ) -> None: ...

    def record_cache(self, *, hits: int, misses: int) -> None: ...


@dataclass(frozen=True, slots=True)
class _Channel:
    owner_pid: int
    write_fd: int


class PipeSink(MetricsSink):
    """Writes each measurement as one JSON line to a pipe; drops it if the pipe is full."""

    def __init__(self, write_fd: int) -> None:
        self._write_fd = write_fd

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

    def _send(self, event: dict[str, object]) -> None:
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        with suppress(OSError):  # full (EAGAIN) or closed: dropping beats blocking the job
            os.write(self._write_fd, line)


class MetricsRelay:
    """Per-job pipe from a forked work horse to the worker process's `IngestionMetrics`.

    Use `around_job()` in the worker process around the call that forks (RQ's `execute_job`).
    `sink()` gives the right destination for the calling process. Not reentrant: one job at a
    time, as RQ runs them.
    """

    def __init__(self, metrics: IngestionMetrics) -> None:
        self._metrics = metrics
        self._channel: _Channel | None = None

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
                self._replay(_read_available(read_fd))
            finally:
                os.close(read_fd)

    def sink(self) -> MetricsSink:
        """The pipe when called in a process forked inside `around_job`, else the instruments."""
        channel = self._channel
        if channel is not None and channel.owner_pid != os.getpid():
            return PipeSink(channel.write_fd)
        return self._metrics

    def _replay(self, data: bytes) -> None:
        for line in data.splitlines():
            try:
                _record(self._metrics, json.loads(line))
            except (ValueError, TypeError, KeyError):
                _log.debug("skipped a malformed metrics line from a work horse")


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


def _record(metrics: IngestionMetrics, event: object) -> None:
    if not isinstance(event, dict):
        raise ValueError("not an event")
    kind = event.get("event")
    if kind == "stage":
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
    else:
        raise ValueError(f"unknown event {kind!r}")


def _number(event: dict[str, object], key: str) -> float:
    value = event[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is not a number")
    return float(value)
