"""/metrics and /readyz served from the real container while Redis is stopped or silent."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bootstrap import build_container, readiness_checks
from infrastructure.local.redis import RedisServer
from infrastructure.observability import IngestionMetrics
from infrastructure.settings import load_settings
from worker.worker_server import WorkerHttpServer, start_server


def start_worker_server(database_url: str, redis_url: str, tmp_path: Path) -> WorkerHttpServer:
    """The worker's HTTP server on a container for these services, one job already measured."""
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        embedder="hashing",
        embedding_dimension=32,
        data_dir=tmp_path / "var",
    )
    container = build_container(settings)
    metrics: IngestionMetrics = container.resolve(IngestionMetrics)
    metrics.record_job(queue="ingestion", job_name="process", outcome="success", seconds=0.2)
    metrics.record_stage("embed", 0.1)
    return start_server(
        "127.0.0.1",
        0,
        readiness_checks=readiness_checks(container),
        render_metrics=metrics.render,
        metrics_token=None,
    )


def get(server: WorkerHttpServer, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


@pytest.fixture
def silent_redis() -> Iterator[socket.socket]:
    """A loopback port that accepts connections and never answers, like a hung Redis."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    yield listener
    listener.close()


def accepted_connections(listener: socket.socket) -> int:
    """How many connections have reached the listener (the client's connect() has returned)."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def test_a_scrape_with_redis_stopped_returns_the_ingestion_metrics(
    migrated_database_url: str, redis_process: RedisServer, tmp_path: Path
) -> None:
    server = start_worker_server(migrated_database_url, redis_process.url, tmp_path)
    try:
        _, before = get(server, "/metrics")
        redis_process.stop()
        status, during = get(server, "/metrics")
        ready, readiness = get(server, "/readyz")
    finally:
        server.shutdown()

    assert "rq_jobs" in family_names(before)
    assert status == 200
    assert {"ingestion_jobs", "ingestion_stage_duration_seconds"} <= family_names(during)
    assert not {"rq_jobs", "rq_workers"} & family_names(during)
    assert ready == 503
    assert '"redis": "disconnected"' in readiness and '"db": "connected"' in readiness


def test_a_scrape_against_a_silent_redis_tries_once_and_gives_up(
    migrated_database_url: str, silent_redis: socket.socket, tmp_path: Path
) -> None:
    port = silent_redis.getsockname()[1]
    server = start_worker_server(migrated_database_url, f"redis://127.0.0.1:{port}/0", tmp_path)
    try:
        status, text = get(server, "/metrics")
        attempts_by_scrape = accepted_connections(silent_redis)
        ready, readiness = get(server, "/readyz")
    finally:
        server.shutdown()

    assert status == 200
    assert "ingestion_jobs" in family_names(text)
    assert attempts_by_scrape == 1
    assert ready == 503 and '"redis": "disconnected"' in readiness
