"""Reading rendered Prometheus text back into numbers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from infrastructure.observability import IngestionMetrics


def sample(metrics: IngestionMetrics | str, name: str, **labels: str) -> float:
    """The value of the sample `name{labels}` (exact label set; `le` included for buckets), or 0."""
    text = metrics if isinstance(metrics, str) else metrics.render().decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


def families(metrics: IngestionMetrics) -> dict[str, str]:
    """Family name -> Prometheus type."""
    return {f.name: f.type for f in text_string_to_metric_families(metrics.render().decode())}


def sample_names(text: str) -> set[str]:
    """Every sample name in rendered text (`_total`, `_bucket`, `_count`, `_sum` included)."""
    return {
        found.name for family in text_string_to_metric_families(text) for found in family.samples
    }
