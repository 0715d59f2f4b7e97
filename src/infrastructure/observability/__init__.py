"""Metrics (OpenTelemetry -> Prometheus text), traces (OTLP), fork-aware telemetry, logging."""

from infrastructure.observability.logs import (
    JobContextFilter,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    current_job_context,
    job_context,
)
from infrastructure.observability.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    DocumentStats,
    IngestionMetrics,
)
from infrastructure.observability.queue_stats import QueueStats, read_queue_stats
from infrastructure.observability.relay import MetricsRelay
from infrastructure.observability.telemetry import OtelIngestionTelemetry
from infrastructure.observability.tracing import Tracing, tracing_from_environment

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "DocumentStats",
    "IngestionMetrics",
    "JobContextFilter",
    "JsonFormatter",
    "MetricsRelay",
    "OtelIngestionTelemetry",
    "QueueStats",
    "TextFormatter",
    "Tracing",
    "configure_logging",
    "current_job_context",
    "job_context",
    "read_queue_stats",
    "tracing_from_environment",
]
