"""`IngestionTelemetry` recorded into OpenTelemetry instruments, fork-aware."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

from application.ports import IngestionTelemetry, Stage
from infrastructure.observability.metrics import IngestionMetrics
from infrastructure.observability.relay import MetricsRelay, MetricsSink

_log = logging.getLogger(__name__)


class OtelIngestionTelemetry(IngestionTelemetry):
    """Records stage timings, document outcomes and cache use into `IngestionMetrics`.

    With a `MetricsRelay`, calls made inside a forked work horse travel through the relay's pipe
    and are recorded by the worker process after the job. Never raises: a failure to record is
    logged and dropped. `stage()` re-raises whatever its block raises, after timing it.
    """

    def __init__(self, metrics: IngestionMetrics, relay: MetricsRelay | None = None) -> None:
        self._metrics = metrics
        self._relay = relay

    @contextmanager
    def stage(self, stage: Stage) -> Iterator[None]:
        started = perf_counter()
        try:
            yield
        finally:
            elapsed = perf_counter() - started
            self._record(lambda sink: sink.record_stage(str(stage), elapsed))

    def document_processed(
        self, *, outcome: str, size_bytes: int, chunks: int, tokens: int
    ) -> None:
        self._record(
            lambda sink: sink.record_document(
                outcome=outcome, size_bytes=size_bytes, chunks=chunks, tokens=tokens
            )
        )

    def embedding_cache_used(self, *, hits: int, misses: int) -> None:
        self._record(lambda sink: sink.record_cache(hits=hits, misses=misses))

    def _record(self, write: Callable[[MetricsSink], None]) -> None:
        try:
            write(self._relay.sink() if self._relay else self._metrics)
        except Exception:  # telemetry must never break ingestion
            _log.warning("could not record ingestion telemetry", exc_info=True)
