"""A real Prometheus scrapes a real `python -m worker --workers 2`: names, types, labels, values."""

from __future__ import annotations

from urllib.parse import urlsplit

from application.ports import UnitOfWorkFactory
from bootstrap import Container
from domain import DocumentStatus
from tests.e2e.test_worker_process import StartWorker, submit, wait_for_status
from tests.ops.conftest import JOB, StartPrometheus

DOCUMENTS = 4
STAGES = {"read", "extract", "chunk", "embed", "write"}


def test_prometheus_sees_the_workers_metrics_with_their_types_labels_and_values(
    start_worker: StartWorker, start_prometheus: StartPrometheus, app_container: Container
) -> None:
    worker = start_worker("run", "--workers", "2")
    target = urlsplit(worker.wait_for_line(r"listening on (http://\S+)").group(1)).netloc
    prometheus = start_prometheus([target])
    prometheus.wait_until(f'up{{job="{JOB}"}}', lambda up: list(up.values()) == [1.0])

    documents = [submit(app_container, f"doc{i}.txt") for i in range(DOCUMENTS)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)
    ready_in_database = _count(app_container, DocumentStatus.READY)

    prometheus.wait_until(
        'sum(ingestion_documents_total{outcome="ready"})',
        lambda result: list(result.values()) == [ready_in_database],
    )
    prometheus.wait_until(
        'ingestion_stored_documents{status="ready"}',
        lambda result: list(result.values()) == [ready_in_database],
    )
    jobs = prometheus.query("sum by (queue, job_name, outcome) (ingestion_jobs_total)")
    assert jobs == {
        "job_name=worker.jobs.process_document_job,outcome=success,queue=ingestion": DOCUMENTS
    }
    stage_counts = prometheus.query("sum by (stage) (ingestion_stage_duration_seconds_count)")
    assert stage_counts == {f"stage={stage}": DOCUMENTS for stage in STAGES}
    prometheus.wait_until("sum(rq_workers)", lambda result: list(result.values()) == [2.0])

    metadata = prometheus.api("metadata")
    assert _type(metadata, "ingestion_jobs_total") == "counter"
    assert _type(metadata, "ingestion_documents_total") == "counter"
    assert _type(metadata, "ingestion_stage_duration_seconds") == "histogram"
    assert _type(metadata, "rq_jobs") == "gauge"
    assert _type(metadata, "rq_oldest_queued_job_age_seconds") == "gauge"
    assert _type(metadata, "ingestion_stored_documents") == "gauge"

    assert _label_names(prometheus.api("series", **{"match[]": "rq_jobs"})) == {
        "__name__",
        "instance",
        "job",
        "queue",
        "status",
    }
    assert _label_names(
        prometheus.api("series", **{"match[]": "ingestion_stage_duration_seconds_bucket"})
    ) == {"__name__", "instance", "job", "stage", "le"}
    statuses = prometheus.query("ingestion_stored_documents")
    assert {key.split("status=")[1] for key in statuses} == {s.value for s in DocumentStatus}


def _count(container: Container, status: DocumentStatus) -> float:
    uow_factory: UnitOfWorkFactory = container.resolve(UnitOfWorkFactory)
    with uow_factory() as uow:
        return float(uow.documents.count_by_status()[status])


def _type(metadata: dict[str, list[dict[str, str]]], name: str) -> str:
    assert name in metadata, f"{name} not in {sorted(metadata)}"
    return metadata[name][0]["type"]


def _label_names(series: list[dict[str, str]]) -> set[str]:
    assert series, "no series"
    return {name for labels in series for name in labels}
