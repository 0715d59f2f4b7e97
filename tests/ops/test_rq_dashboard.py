"""rq-dashboard (the `ops` extra) reads our queues, workers and failed jobs from the same Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from infrastructure.queue import PROCESS_DOCUMENT_JOB
from infrastructure.settings import Settings
from tests.e2e.test_worker_process import WORKSPACE, StartWorker, rq_enqueue, wait_for_job

rq_dashboard_app = pytest.importorskip(
    "rq_dashboard.app", reason="rq-dashboard is not installed (pip install -e '.[ops]')"
)
rq_dashboard_web = pytest.importorskip("rq_dashboard.web")


@pytest.fixture
def dashboard(worker_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A test client on rq-dashboard's app factory, configured as its container would be."""
    assert worker_settings.redis_url is not None
    monkeypatch.setenv("RQ_DASHBOARD_REDIS_URL", worker_settings.redis_url.get_secret_value())
    monkeypatch.setenv("RQ_DASHBOARD_JSON_SERIALIZER", "1")
    monkeypatch.setenv("RQ_DASHBOARD_URL_PREFIX", "")
    # the factory sets the serializer on a module-wide object: put it back afterwards
    monkeypatch.setattr(rq_dashboard_web.config, "serializer", rq_dashboard_web.config.serializer)
    yield rq_dashboard_app.create_app().test_client()


def _json(client: Any, path: str) -> Any:
    reply = client.get(path)
    assert reply.status_code == 200, (path, reply.status_code)
    return reply.get_json()


def test_rq_dashboard_shows_our_queue_worker_and_a_failed_job_with_its_error(
    start_worker: StartWorker,
    worker_settings: Settings,
    redis_connection: Redis,
    dashboard: Any,
) -> None:
    worker = start_worker()
    worker.wait_until_consuming()
    job_id = rq_enqueue(worker_settings, PROCESS_DOCUMENT_JOB, "not-a-uuid", str(WORKSPACE))
    wait_for_job(redis_connection, job_id)

    queues = {q["name"]: q for q in _json(dashboard, "/0/data/queues.json")["queues"]}
    workers = _json(dashboard, "/0/data/workers.json")["workers"]
    failed = _json(dashboard, "/0/data/jobs/ingestion/failed/8/asc/1.json")["jobs"]
    job = _json(dashboard, f"/0/data/job/{job_id}.json")

    assert queues["ingestion"]["failed_job_registry_count"] == 1
    assert [w["queues"] for w in workers] == [["ingestion"]]
    assert [j["id"] for j in failed] == [job_id]
    assert job["status"] == "failed"
    assert "InvalidJobArgument" in job["exc_info"]  # the class of invalid_argument
    assert "document_id: 'not-a-uuid' is not a UUID" in job["exc_info"]
