"""What jobs measure in the executor process is served on the worker's /metrics, also by the
parent of `python -m worker --workers 2`, whose processes relay theirs to it."""

from __future__ import annotations

import time
import urllib.request

from redis import Redis

from bootstrap import Container
from domain import DocumentStatus
from tests.e2e.test_worker_process import StartWorker, live_workers, submit, wait_for_status
from tests.faults.harness import wait_until
from tests.unit.observability.metrics_text import sample

DOCUMENTS = 6
JOB = {"queue": "ingestion", "job_name": "worker.jobs.process_document_job"}


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:  # noqa: S310
        return str(response.read().decode())


def scrape_until_jobs_counted(url: str, expected: int, timeout: float = 30) -> str:
    """The first scrape counting `expected` successful jobs (the pool reports after each job)."""
    deadline = time.monotonic() + timeout
    text = scrape(url)
    while sample(text, "ingestion_jobs_total", **JOB, outcome="success") < expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
        text = scrape(url)
    return text


def test_metrics_of_a_worker_pool_count_every_job_of_every_process(
    start_worker: StartWorker, app_container: Container, redis_connection: Redis
) -> None:
    worker = start_worker("run", "--workers", "2")
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)
    wait_until(lambda: live_workers(redis_connection) == 2, 60, "both processes to register")
    documents = [submit(app_container, f"doc{i}.txt") for i in range(DOCUMENTS)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)

    text = scrape_until_jobs_counted(url, DOCUMENTS)

    assert sample(text, "ingestion_jobs_total", **JOB, outcome="success") == DOCUMENTS
    assert sample(text, "ingestion_job_duration_seconds_count", **JOB) == DOCUMENTS
    for stage in ("read", "extract", "chunk", "embed", "write"):
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage) == DOCUMENTS
    assert sample(text, "ingestion_documents_total", outcome="ready") == DOCUMENTS
    assert sample(text, "rq_workers", state="idle") + sample(text, "rq_workers", state="busy") == 2


def test_metrics_of_one_worker_count_every_job_and_stage(
    start_worker: StartWorker, app_container: Container
) -> None:
    worker = start_worker()
    url = worker.wait_for_line(r"listening on (http://\S+)").group(1)
    documents = [submit(app_container, f"doc{i}.txt") for i in range(4)]
    for document in documents:
        wait_for_status(app_container, document, DocumentStatus.READY)

    text = scrape_until_jobs_counted(url, len(documents))

    assert sample(text, "ingestion_jobs_total", **JOB, outcome="success") == len(documents)
    for stage in ("read", "extract", "chunk", "embed", "write"):
        assert sample(text, "ingestion_stage_duration_seconds_count", stage=stage) == 4
    assert sample(text, "ingestion_documents_total", outcome="ready") == len(documents)
