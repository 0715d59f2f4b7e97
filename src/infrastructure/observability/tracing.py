"""Traces: a span per job with a child span per pipeline stage, exported over OTLP/HTTP.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
(and OTEL_SDK_DISABLED is not `true`). The SDK and the exporter read the standard variables
themselves: the endpoints, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*. Off, there is no
tracer provider, span processor or exporter at all: spans are the API's no-op ones.

A job continues the trace whose W3C context its enqueuer put in the job (`job_span`), so an
upload request and its ingestion form one trace. Spans carry ids, sizes, counts, outcomes and
error codes only: never a document's text, a file name or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from application.errors import IngestionError, InternalError

#: The service name spans carry when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES
#: names one.
DEFAULT_SERVICE_NAME = "ingestion-worker"
#: How long a forked work horse waits, at most, for its spans to be exported before it exits.
HORSE_FLUSH_TIMEOUT_MILLIS = 5_000
_INSTRUMENTATION_SCOPE = "ingestion_worker"


class Tracing:
    """This process's tracer, and the provider behind it when tracing is on.

    `Tracing()` is off: its tracer is the API's no-op tracer and `job_span` adds nothing.
    `Tracing(processor)` records every span into `processor` (tests pass a
    `SimpleSpanProcessor` over an `InMemorySpanExporter`); `tracing_from_environment()` builds
    the OTLP one. The provider is this process's own (never the global one), so an application
    that embeds the use cases keeps its tracing to itself.
    """

    def __init__(self, processor: SpanProcessor | None = None) -> None:
        #: Where finished spans go; None when tracing is off.
        self.processor = processor
        self._provider: TracerProvider | None = None
        self._pid = os.getpid()
        if processor is None:
            self.tracer: trace.Tracer = trace.NoOpTracer()
            return
        self._provider = TracerProvider(resource=_resource())
        self._provider.add_span_processor(processor)
        self.tracer = self._provider.get_tracer(_INSTRUMENTATION_SCOPE)

    @property
    def enabled(self) -> bool:
        """Whether spans are recorded and exported."""
        return self._provider is not None

    @property
    def provider(self) -> TracerProvider | None:
        """The tracer provider, or None when tracing is off."""
        return self._provider

    def job_span(
        self,
        name: str,
        *,
        carrier: Mapping[str, str] | None,
        attributes: Mapping[str, AttributeValue],
    ) -> AbstractContextManager[None]:
        """Run the enclosed block in span `name`, a child of the trace in `carrier` (the W3C
        `traceparent`/`tracestate` its enqueuer injected; a new trace without one).

        An error raised in the block sets the span's status and `error.type` to the error's code
        and is re-raised; no exception event (its message may quote the document). In a forked
        process (an RQ work horse, which ends with `os._exit`), the spans are exported before
        the block returns."""
        if self._provider is None:
            return nullcontext()
        return self._job_span(self._provider, name, carrier or {}, attributes)

    @contextmanager
    def _job_span(
        self,
        provider: TracerProvider,
        name: str,
        carrier: Mapping[str, str],
        attributes: Mapping[str, AttributeValue],
    ) -> Iterator[None]:
        try:
            with self.tracer.start_as_current_span(
                name,
                context=extract(carrier),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    yield
                except BaseException as error:
                    mark_failed(span, error)
                    raise
        finally:
            if os.getpid() != self._pid:
                provider.force_flush(HORSE_FLUSH_TIMEOUT_MILLIS)

    def shutdown(self) -> None:
        """Export what is pending and stop the provider (nothing when tracing is off)."""
        if self._provider is not None:
            self._provider.shutdown()


def tracing_from_environment(environ: Mapping[str, str] = os.environ) -> Tracing:
    """OTLP/HTTP tracing when an OTLP endpoint is configured, else tracing that is off."""
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if disabled or not (endpoint or "").strip():
        return Tracing()
    # Imported only when tracing is on: the exporter brings protobuf and requests along.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return Tracing(BatchSpanProcessor(OTLPSpanExporter()))


def mark_failed(span: Span, error: BaseException) -> None:
    """Give `span` an error status and the error's code (`ingestion.error_code`; `error.type`
    names the exception's class), never its message."""
    code = error.code if isinstance(error, IngestionError) else InternalError.code
    span.set_attributes({"ingestion.error_code": code, "error.type": type(error).__name__})
    span.set_status(Status(StatusCode.ERROR, code))


def _resource() -> Resource:
    """The SDK's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), named
    `DEFAULT_SERVICE_NAME` when those leave the service unnamed."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return detected
