"""What every `IngestionTelemetry` promises: it never raises, `stage()` times a block whether
it succeeds or raises (and re-raises), and what it is told adds up when read back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from application.ports import IngestionTelemetry, Stage
from infrastructure.memory import InMemoryTelemetry
from infrastructure.observability import IngestionMetrics, OtelIngestionTelemetry, Tracing


@dataclass(frozen=True)
class Readback:
    stages: Counter[str]
    outcomes: Counter[str]
    chunks: int
    tokens: int
    cache_hits: int
    cache_misses: int


@dataclass(frozen=True)
class TelemetryUnderTest:
    telemetry: IngestionTelemetry
    read: Callable[[], Readback]


class TelemetryContract:
    def test_each_stage_block_is_recorded_once(self, adapter: TelemetryUnderTest) -> None:
        for stage in Stage:
            with adapter.telemetry.stage(stage):
                pass
        with adapter.telemetry.stage(Stage.EMBED):
            pass

        stages = adapter.read().stages
        assert stages == Counter({s.value: 1 for s in Stage}) + Counter({"embed": 1})

    def test_a_raising_block_is_timed_and_its_error_re_raised(
        self, adapter: TelemetryUnderTest
    ) -> None:
        error = RuntimeError("extraction blew up")

        with pytest.raises(RuntimeError) as raised, adapter.telemetry.stage(Stage.EXTRACT):
            raise error

        assert raised.value is error
        assert adapter.read().stages == Counter({"extract": 1})

    def test_nested_stages_are_each_recorded(self, adapter: TelemetryUnderTest) -> None:
        with adapter.telemetry.stage(Stage.EMBED), adapter.telemetry.stage(Stage.WRITE):
            pass

        assert adapter.read().stages == Counter({"embed": 1, "write": 1})

    def test_documents_chunks_and_tokens_add_up(self, adapter: TelemetryUnderTest) -> None:
        adapter.telemetry.document_processed(outcome="ready", size_bytes=10, chunks=3, tokens=40)
        adapter.telemetry.document_processed(outcome="ready", size_bytes=20, chunks=2, tokens=25)
        adapter.telemetry.document_processed(outcome="no_text", size_bytes=5, chunks=0, tokens=0)
        adapter.telemetry.document_processed(outcome="unchanged", size_bytes=9, chunks=0, tokens=0)

        seen = adapter.read()
        assert seen.outcomes == Counter({"ready": 2, "no_text": 1, "unchanged": 1})
        assert (seen.chunks, seen.tokens) == (5, 65)

    def test_cache_hits_and_misses_add_up(self, adapter: TelemetryUnderTest) -> None:
        adapter.telemetry.embedding_cache_used(hits=4, misses=1)
        adapter.telemetry.embedding_cache_used(hits=0, misses=6)

        seen = adapter.read()
        assert (seen.cache_hits, seen.cache_misses) == (4, 7)

    def test_odd_values_never_raise(self, adapter: TelemetryUnderTest) -> None:
        adapter.telemetry.document_processed(outcome="", size_bytes=-1, chunks=-1, tokens=-1)
        adapter.telemetry.embedding_cache_used(hits=-3, misses=0)
        adapter.telemetry.document_processed(outcome="ready", size_bytes=0, chunks=1, tokens=2)

        assert adapter.read().outcomes["ready"] == 1

    def test_what_extraction_found_is_not_counted(self, adapter: TelemetryUnderTest) -> None:
        adapter.telemetry.document_extracted(media_type="application/pdf", pages=3)
        adapter.telemetry.document_extracted(media_type="text/plain", pages=None)

        seen = adapter.read()
        assert (seen.outcomes, seen.chunks, seen.cache_misses) == (Counter(), 0, 0)


def _in_memory() -> TelemetryUnderTest:
    telemetry = InMemoryTelemetry()
    return TelemetryUnderTest(
        telemetry,
        lambda: Readback(
            stages=Counter(stage.value for stage in telemetry.stages),
            outcomes=+telemetry.outcomes,
            chunks=telemetry.chunks,
            tokens=telemetry.tokens,
            cache_hits=telemetry.cache_hits,
            cache_misses=telemetry.cache_misses,
        ),
    )


def _read_metrics(metrics: IngestionMetrics) -> Readback:
    stages: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == "ingestion_stage_duration_seconds_count":
                stages[sample.labels["stage"]] += int(sample.value)
            elif sample.name == "ingestion_documents_total":
                outcomes[sample.labels["outcome"]] += int(sample.value)
            else:
                totals[sample.name] += int(sample.value)
    return Readback(
        stages=stages,
        outcomes=outcomes,
        chunks=totals["ingestion_chunks_total"],
        tokens=totals["ingestion_tokens_total"],
        cache_hits=totals["ingestion_embedding_cache_hits_total"],
        cache_misses=totals["ingestion_embedding_cache_misses_total"],
    )


class TestInMemoryTelemetry(TelemetryContract):
    @pytest.fixture
    def adapter(self) -> TelemetryUnderTest:
        return _in_memory()


class TestOtelIngestionTelemetry(TelemetryContract):
    @pytest.fixture
    def adapter(self) -> Iterator[TelemetryUnderTest]:
        metrics = IngestionMetrics()
        yield TelemetryUnderTest(OtelIngestionTelemetry(metrics), lambda: _read_metrics(metrics))
        metrics.shutdown()


class TestTracedOtelIngestionTelemetry(TelemetryContract):
    @pytest.fixture
    def adapter(self) -> Iterator[TelemetryUnderTest]:
        metrics = IngestionMetrics()
        tracing = Tracing(SimpleSpanProcessor(InMemorySpanExporter()))
        telemetry = OtelIngestionTelemetry(metrics, tracing=tracing)
        with tracing.tracer.start_as_current_span("process_document"):
            yield TelemetryUnderTest(telemetry, lambda: _read_metrics(metrics))
        tracing.shutdown()
        metrics.shutdown()
