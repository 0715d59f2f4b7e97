"""Traces from a real `python -m worker --burst`, in both worker modes, exported over OTLP/HTTP
to a loopback receiver that decodes what a collector would receive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry import context, propagate
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from redis import Redis
from rq import Queue
from rq.job import Job

from bootstrap import Container
from domain import Document, DocumentStatus
from infrastructure.queue import SERIALIZER, TRACE_CONTEXT_META_KEY
from infrastructure.settings import Settings
from tests.e2e.test_worker_process import StartWorker, load, submit

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
STAGES = {"read", "extract", "chunk", "embed", "write"}
SECRET_TEXT = b"Quarterly figures mention the codename Bluefinch.\n\nOnly staff may read this.\n"


@dataclass
class Collector:
    """What the loopback OTLP receiver got: every span, with its service's name."""

    spans: list[Span] = field(default_factory=list)
    services: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.paths.add(path)
            for resource_spans in request.resource_spans:
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        self.services.add(attribute.value.string_value)
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(scope_spans.spans)


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    received = Collector()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.receive(self.path, body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def submit_in_trace(app_container: Container) -> Document:
    """Submit as a product API would inside a request whose trace context came in as
    `TRACEPARENT`."""
    token = context.attach(propagate.extract({"traceparent": TRACEPARENT}))
    try:
        return submit(app_container, "report.txt", SECRET_TEXT)
    finally:
        context.detach(token)


@pytest.mark.parametrize("mode", ["fork", "inline"])
def test_a_job_exports_its_span_and_stages_in_the_submitters_trace(
    mode: str,
    start_worker: StartWorker,
    app_container: Container,
    collector: tuple[Collector, str],
) -> None:
    received, endpoint = collector
    document = submit_in_trace(app_container)

    worker = start_worker(
        "--burst",
        WORKER_MODE=mode,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="ingestion-under-test",
    )

    assert worker.exit_code() == 0, worker.output
    assert load(app_container, document).status is DocumentStatus.READY
    spans = {span.name: span for span in received.spans}
    assert set(spans) == {"process_document", *STAGES}
    assert received.paths == {"/v1/traces"}
    assert received.services == {"ingestion-under-test"}
    job = spans["process_document"]
    assert {span.trace_id.hex() for span in spans.values()} == {TRACE_ID}
    assert job.parent_span_id.hex() == TRACEPARENT.split("-")[2]
    assert job.kind == Span.SPAN_KIND_CONSUMER
    assert all(spans[stage].parent_span_id == job.span_id for stage in STAGES)
    assert job.status.code != Status.STATUS_CODE_ERROR
    attributes = _attributes(job)
    assert attributes["ingestion.document.id"] == str(document.id)
    assert attributes["ingestion.workspace.id"] == str(document.workspace_id)
    assert attributes["ingestion.outcome"] == "ready"
    assert attributes["ingestion.document.media_type"] == "text/plain"
    assert attributes["ingestion.document.bytes"] == len(SECRET_TEXT)
    assert attributes["ingestion.chunks"] == load(app_container, document).chunk_count
    assert attributes["ingestion.embedding_cache.misses"] >= 1
    every_value = [str(v) for span in received.spans for v in _attributes(span).values()]
    assert not [value for value in every_value if "Bluefinch" in value or "staff" in value]


def test_the_submitters_trace_context_travels_in_the_jobs_meta(
    app_container: Container, worker_settings: Settings, redis_connection: Redis
) -> None:
    submit_in_trace(app_container)
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)

    (job_id,) = queue.job_ids
    job = Job.fetch(job_id, connection=redis_connection, serializer=SERIALIZER)
    assert job.meta[TRACE_CONTEXT_META_KEY] == {"traceparent": TRACEPARENT}


def test_outside_a_trace_a_job_carries_no_trace_context(
    app_container: Container, worker_settings: Settings, redis_connection: Redis
) -> None:
    submit(app_container)
    queue = Queue(worker_settings.queue_name, connection=redis_connection, serializer=SERIALIZER)

    (job_id,) = queue.job_ids
    job = Job.fetch(job_id, connection=redis_connection, serializer=SERIALIZER)
    assert TRACE_CONTEXT_META_KEY not in job.meta


def _attributes(span: Span) -> dict[str, object]:
    return {attribute.key: _value(attribute.value) for attribute in span.attributes}


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
