"""deploy/grafana/ingestion-worker.json: a well-formed dashboard whose queries parse and name only
metrics the worker exports."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from infrastructure.observability import DocumentStats, IngestionMetrics, QueueStats
from tests.ops.conftest import DEPLOY, JOB, StartPrometheus
from tests.unit.observability.metrics_text import sample_names

DASHBOARD = DEPLOY / "grafana" / "ingestion-worker.json"
#: What Grafana substitutes before sending a query.
VARIABLES = {"$__rate_interval": "1m", "$job": JOB}
METRIC = re.compile(r"\b((?:ingestion|rq)_[a-z_]+)\b")
WANTED_PANELS = {
    "Documents / s",
    "Chunks / s",
    "MB / s",
    "Queue depth",
    "Oldest queued job age",
    "Stage time percentiles",
    "Failures by code",
    "Embedding cache hit ratio",
    "Workers by state",
    "Executor restarts by reason",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _graphs(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    expressions = []
    for panel in _graphs(dashboard):
        for target in panel["targets"]:
            expression = target["expr"]
            for variable, value in VARIABLES.items():
                expression = expression.replace(variable, value)
            expressions.append(expression)
    return expressions


def test_panels_have_unique_ids_targets_and_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}

    assert len(ids) == len(set(ids))
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {panel["title"] for panel in _graphs(dashboard)} >= WANTED_PANELS
    for panel in _graphs(dashboard):
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_every_query_names_only_metrics_the_worker_exports(dashboard: dict[str, Any]) -> None:
    exported = _exported_names()

    used = {name for e in _expressions(dashboard) for name in METRIC.findall(e)}

    assert used, "no metric found in the dashboard"
    assert used <= exported, f"not exported: {sorted(used - exported)}"


def test_every_query_parses_in_prometheus(
    dashboard: dict[str, Any], start_prometheus: StartPrometheus
) -> None:
    prometheus = start_prometheus([])

    for expression in _expressions(dashboard):
        reply = prometheus.client.get("/api/v1/query", params={"query": expression}).json()
        assert reply["status"] == "success", (expression, reply.get("errorType"), reply)


def _exported_names() -> set[str]:
    """Every sample name /metrics serves once each instrument has something to show."""
    now = datetime.now(UTC)
    metrics = IngestionMetrics(
        queue_stats=lambda: QueueStats(
            jobs={("ingestion", "queued"): 1},
            workers={"idle": 1},
            head_enqueued_at={"ingestion": now},
        ),
        document_stats=lambda: DocumentStats(
            counts={"ready": 1},
            errors={("failed", "no_text"): 1},
            oldest_processing_started_at=now,
        ),
    )
    metrics.record_job(queue="ingestion", job_name="job", outcome="success", seconds=1)
    metrics.record_stage("embed", 1)
    metrics.record_document(outcome="ready", size_bytes=1, chunks=1, tokens=1)
    metrics.record_cache(hits=1, misses=1)
    metrics.record_executor_restart("crash")
    try:
        return sample_names(metrics.render().decode())
    finally:
        metrics.shutdown()
