from __future__ import annotations

import pytest

from application.ports import Stage
from infrastructure.observability import IngestionMetrics, OtelIngestionTelemetry


class UnrecordableMetrics(IngestionMetrics):
    """Metrics whose every recording fails, as a broken exporter would."""

    def record_stage(self, stage: str, seconds: float) -> None:
        raise RuntimeError("exporter broke")

    def record_document(self, *, outcome: str, size_bytes: int, chunks: int, tokens: int) -> None:
        raise RuntimeError("exporter broke")

    def record_cache(self, *, hits: int, misses: int) -> None:
        raise RuntimeError("exporter broke")


def test_recording_failures_are_logged_and_never_reach_the_pipeline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = OtelIngestionTelemetry(UnrecordableMetrics())

    with telemetry.stage(Stage.READ):
        pass
    telemetry.document_processed(outcome="ready", size_bytes=1, chunks=1, tokens=1)
    telemetry.embedding_cache_used(hits=1, misses=1)

    warnings = [r for r in caplog.records if r.message == "could not record ingestion telemetry"]
    assert len(warnings) == 3


def test_the_blocks_own_error_wins_over_a_recording_failure() -> None:
    telemetry = OtelIngestionTelemetry(UnrecordableMetrics())

    with pytest.raises(KeyError, match="missing blob"), telemetry.stage(Stage.READ):
        raise KeyError("missing blob")
