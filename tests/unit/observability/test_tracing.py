"""Traces: a job span continuing its enqueuer's trace, a child span per stage, attributes that
describe the attempt without its content; and nothing at all when no OTLP endpoint is set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from application.errors import NoExtractableText
from application.ports import Stage
from application.usecases.ingestion import ProcessDocument
from domain import Document
from infrastructure.observability import (
    IngestionMetrics,
    OtelIngestionTelemetry,
    Tracing,
    tracing_from_environment,
)
from tests.unit.application.conftest import SAMPLE, World

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
STAGES = ["read", "extract", "chunk", "embed", "write"]


@dataclass
class Traced:
    world: World
    tracing: Tracing
    exporter: InMemorySpanExporter

    def process(self, document: Document) -> None:
        """Run the use case as the job function does: inside the job's span."""
        command = ProcessDocument(document.id, document.workspace_id)
        with self.tracing.job_span(
            "process_document",
            carrier={"traceparent": TRACEPARENT},
            attributes={"ingestion.document.id": str(document.id)},
        ):
            self.world.process_use_case()(command)

    def spans(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.exporter.get_finished_spans()}


@pytest.fixture
def traced() -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(SimpleSpanProcessor(exporter))
    metrics = IngestionMetrics()
    world = World()
    world.telemetry = OtelIngestionTelemetry(metrics, tracing=tracing)
    yield Traced(world, tracing, exporter)
    tracing.shutdown()
    metrics.shutdown()


def test_a_job_is_one_span_with_a_child_per_stage_in_the_callers_trace(traced: Traced) -> None:
    traced.process(traced.world.submit(SAMPLE))

    spans = traced.spans()
    job = spans["process_document"]
    assert sorted(spans) == sorted(["process_document", *STAGES])
    assert job.kind is SpanKind.CONSUMER
    assert job.parent is not None and format(job.parent.span_id, "016x") == PARENT_SPAN_ID
    for stage in STAGES:
        span = spans[stage]
        assert span.parent is not None and span.parent.span_id == job.context.span_id
    assert {format(s.context.trace_id, "032x") for s in spans.values()} == {TRACE_ID}
    assert [s.name for s in sorted(spans.values(), key=lambda s: s.start_time or 0)] == [
        "process_document",
        *STAGES,
    ]


def test_the_job_span_describes_the_attempt_without_its_text(traced: Traced) -> None:
    document = traced.world.submit(SAMPLE)
    traced.process(document)

    attributes = dict(traced.spans()["process_document"].attributes or {})
    assert attributes["ingestion.document.id"] == str(document.id)
    assert attributes["ingestion.outcome"] == "ready"
    assert attributes["ingestion.document.bytes"] == len(SAMPLE.encode())
    assert attributes["ingestion.document.media_type"] == "text/plain"
    assert attributes["ingestion.chunks"] == traced.world.stored(document).chunk_count > 0
    assert attributes["ingestion.embedding_cache.hits"] == 0
    assert attributes["ingestion.embedding_cache.misses"] > 0
    every_value = [
        str(value) for span in traced.spans().values() for value in (span.attributes or {}).values()
    ]
    words = {word for word in SAMPLE.split() if len(word) > 6}
    assert not [value for value in every_value if any(word in value for word in words)]


def test_a_second_attempt_shows_its_cache_hits(traced: Traced) -> None:
    traced.process(traced.world.submit(SAMPLE, "first.txt"))
    traced.exporter.clear()

    traced.process(traced.world.submit(SAMPLE, "second.txt"))

    attributes = dict(traced.spans()["process_document"].attributes or {})
    assert attributes["ingestion.embedding_cache.hits"] == attributes["ingestion.chunks"]
    assert attributes["ingestion.embedding_cache.misses"] == 0


def test_a_failed_stage_and_its_job_carry_the_error_code_not_the_message(
    traced: Traced,
) -> None:
    traced.world.extractor.error = NoExtractableText("secret words from the document")

    with pytest.raises(NoExtractableText):
        traced.process(traced.world.submit(SAMPLE))

    spans = traced.spans()
    for name in ("extract", "process_document"):
        assert spans[name].status.status_code is StatusCode.ERROR
        assert spans[name].status.description == NoExtractableText.code
        assert (spans[name].attributes or {})["ingestion.error_code"] == NoExtractableText.code
        assert not spans[name].events
    assert (spans["process_document"].attributes or {})["ingestion.outcome"] == (
        NoExtractableText.code
    )
    assert "chunk" not in spans


def test_without_an_otlp_endpoint_nothing_is_installed() -> None:
    tracing = tracing_from_environment({"OTEL_SERVICE_NAME": "ingestion-worker"})

    assert not tracing.enabled
    assert tracing.provider is None and tracing.processor is None
    assert isinstance(tracing.tracer, trace.NoOpTracer)
    with tracing.job_span("process_document", carrier={"traceparent": TRACEPARENT}, attributes={}):
        assert trace.get_current_span() is trace.INVALID_SPAN


def test_without_tracing_stages_open_no_span() -> None:
    metrics = IngestionMetrics()
    telemetry = OtelIngestionTelemetry(metrics, tracing=tracing_from_environment({}))

    with telemetry.stage(Stage.EXTRACT):
        assert trace.get_current_span() is trace.INVALID_SPAN
    telemetry.document_extracted(media_type="text/plain", pages=None)
    metrics.shutdown()


def test_a_disabled_sdk_wins_over_an_endpoint() -> None:
    tracing = tracing_from_environment(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    )

    assert not tracing.enabled


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_otlp_endpoint_installs_a_batching_otlp_http_exporter(variable: str) -> None:
    tracing = tracing_from_environment({variable: "http://127.0.0.1:4318"})

    assert tracing.enabled
    assert isinstance(tracing.processor, BatchSpanProcessor)
    assert isinstance(tracing.processor.span_exporter, OTLPSpanExporter)
    tracing.shutdown()


def test_the_service_is_named_by_default_and_by_otel_service_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert _service_name() == "ingestion-worker"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "ingest-eu")
    assert _service_name() == "ingest-eu"


def _service_name() -> object:
    exporter = InMemorySpanExporter()
    tracing = Tracing(SimpleSpanProcessor(exporter))
    with tracing.tracer.start_as_current_span("probe"):
        pass
    tracing.shutdown()
    (span,) = exporter.get_finished_spans()
    return span.resource.attributes["service.name"]
