"""`IngestionTelemetry` recorded into OpenTelemetry instruments (fork-aware) and, when tracing
is on, into spans."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from application.ports import IngestionTelemetry, Stage
from infrastructure.observability.metrics import IngestionMetrics
from infrastructure.observability.relay import MetricsRelay, MetricsSink
from infrastructure.observability.tracing import Tracing, mark_failed

_log = logging.getLogger(__name__)


class OtelIngestionTelemetry(IngestionTelemetry):
    """Records stage timings, document outcomes and cache use into `IngestionMetrics`.

    With a `MetricsRelay`, calls made inside a forked work horse travel through the relay's pipe
    and are recorded by the worker process after the job. Never raises: a failure to record is
    logged and dropped. `stage()` re-raises whatever its block raises, after timing it.

    With `tracing` on, each stage is also a span (a child of the current one, the job's), and
    what the other methods are told becomes attributes of the current span. Spans stay in the
    process that makes them: a work horse exports its own (see `Tracing.job_span`).
    """

    def __init__(
        self,
        metrics: IngestionMetrics,
        relay: MetricsRelay | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._metrics = metrics
        self._relay = relay
        self._tracing = tracing if tracing is not None and tracing.enabled else None

    @contextmanager
    def stage(self, stage: Stage) -> Iterator[None]:
        started = perf_counter()
        try:
            with self._stage_span(stage):
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
        self._annotate(
            {
                "ingestion.outcome": outcome,
                "ingestion.document.bytes": size_bytes,
                "ingestion.chunks": chunks,
                "ingestion.tokens": tokens,
            }
        )

    def embedding_cache_used(self, *, hits: int, misses: int) -> None:
        self._record(lambda sink: sink.record_cache(hits=hits, misses=misses))
        self._annotate(
            {"ingestion.embedding_cache.hits": hits, "ingestion.embedding_cache.misses": misses}
        )

    def embedding_throttled(self, *, waited_seconds: float, rejections: int) -> None:
        self._record(
            lambda sink: sink.record_throttling(
                waited_seconds=waited_seconds, rejections=rejections
            )
        )

    def document_extracted(self, *, media_type: str, pages: int | None) -> None:
        attributes: dict[str, AttributeValue] = {"ingestion.document.media_type": media_type}
        if pages is not None:
            attributes["ingestion.document.pages"] = pages
        self._annotate(attributes)

    @contextmanager
    def _stage_span(self, stage: Stage) -> Iterator[None]:
        if self._tracing is None:
            yield
            return
        with self._tracing.tracer.start_as_current_span(
            str(stage), record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except BaseException as error:
                mark_failed(span, error)
                raise

    def _annotate(self, attributes: dict[str, AttributeValue]) -> None:
        if self._tracing is None:
            return
        try:
            trace.get_current_span().set_attributes(attributes)
        except Exception:  # telemetry must never break ingestion
            _log.warning("could not annotate the job's span", exc_info=True)

    def _record(self, write: Callable[[MetricsSink], None]) -> None:
        try:
            write(self._relay.sink() if self._relay else self._metrics)
        except Exception:  # telemetry must never break ingestion
            _log.warning("could not record ingestion telemetry", exc_info=True)
