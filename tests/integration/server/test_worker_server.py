"""The probe and metrics server, on a real socket, with a real Redis to lose and regain."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from application.errors import DependencyUnavailable
from infrastructure.local.redis import RedisServer
from infrastructure.observability import IngestionMetrics
from worker.worker_server import WorkerHttpServer

TOKEN = "metrics-token-7f3a"
DSN_PASSWORD = "pw-Zx81-never-shown"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))


def request(
    server: WorkerHttpServer, method: str, path: str, headers: Mapping[str, str] | None = None
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def test_healthz_answers_alive_while_a_dependency_is_down(
    start: Callable[..., WorkerHttpServer],
) -> None:
    def db_down() -> None:
        raise DependencyUnavailable("database unreachable")

    server = start(readiness_checks={"db": db_down})

    healthy = request(server, "GET", "/healthz")
    not_ready = request(server, "GET", "/readyz")

    assert (healthy.status, healthy.json()) == (200, {"status": "alive"})
    assert healthy.headers["Content-Type"] == "application/json"
    assert not_ready.status == 503


def test_readyz_names_redis_while_it_is_down_and_recovers_after_restart(
    start: Callable[..., WorkerHttpServer], redis_process: RedisServer
) -> None:
    client = Redis(
        port=redis_process.port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )
    server = start(readiness_checks={"db": lambda: None, "redis": client.ping})

    before = request(server, "GET", "/readyz")
    redis_process.stop()
    during = request(server, "GET", "/readyz")
    redis_process.start()
    after = request(server, "GET", "/readyz")

    assert (before.status, before.json()) == (
        200,
        {"db": "connected", "redis": "connected", "status": "ready"},
    )
    assert during.status == 503
    assert during.json() == {
        "db": "connected",
        "redis": "disconnected",
        "status": "not ready",
        "reasons": {"redis": "ConnectionError"},
    }
    assert (after.status, after.json()["status"]) == (200, "ready")
    client.close()


def test_a_hung_check_counts_as_down_after_the_timeout(
    start: Callable[..., WorkerHttpServer],
) -> None:
    release = threading.Event()
    server = start(
        readiness_checks={"db": lambda: None, "redis": lambda: release.wait(30) and None},
        readiness_timeout_seconds=0.2,
    )

    reply = request(server, "GET", "/readyz")
    release.set()

    assert reply.status == 503
    assert reply.json()["redis"] == "disconnected"
    assert reply.json()["reasons"] == {"redis": "Timeout"}


def test_metrics_are_prometheus_text(start: Callable[..., WorkerHttpServer]) -> None:
    metrics = IngestionMetrics()
    metrics.record_job(queue="documents", job_name="process_document_job", outcome="ok", seconds=1)
    server = start(render_metrics=metrics.render)

    reply = request(server, "GET", "/metrics")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    (sample,) = families["ingestion_jobs"].samples
    assert sample.labels == {
        "queue": "documents",
        "job_name": "process_document_job",
        "outcome": "ok",
    }
    assert sample.value == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer "],
)
def test_metrics_refuse_requests_without_the_token(
    start: Callable[..., WorkerHttpServer], authorization: str | None
) -> None:
    server = start(metrics_token=TOKEN)
    headers = {"Authorization": authorization} if authorization is not None else {}

    reply = request(server, "GET", "/metrics", headers)

    assert reply.status == 403
    assert b"ingestion" not in reply.body and TOKEN.encode() not in reply.body


def test_metrics_accept_the_right_bearer_token(start: Callable[..., WorkerHttpServer]) -> None:
    server = start(metrics_token=TOKEN)

    reply = request(server, "GET", "/metrics", {"Authorization": f"bearer {TOKEN}"})

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_probes_need_no_token(start: Callable[..., WorkerHttpServer]) -> None:
    server = start(metrics_token=TOKEN)

    assert request(server, "GET", "/healthz").status == 200
    assert request(server, "GET", "/readyz").status == 200


@pytest.mark.parametrize("path", ["/", "/metrics/", "/admin", "/healthz/../etc/passwd"])
def test_unknown_paths_are_404(start: Callable[..., WorkerHttpServer], path: str) -> None:
    server = start()

    assert request(server, "GET", path).status == 404
    assert request(server, "POST", path).status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_writing_methods_on_known_paths_are_405_with_allow(
    start: Callable[..., WorkerHttpServer], method: str, path: str
) -> None:
    server = start()

    reply = request(server, method, path)

    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_head_answers_like_get_without_a_body(
    start: Callable[..., WorkerHttpServer], path: str
) -> None:
    server = start()

    head, get = request(server, "HEAD", path), request(server, "GET", path)

    assert head.status == get.status == 200
    assert head.body == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["Content-Length"] == str(len(get.body))


def test_query_strings_do_not_change_routing(start: Callable[..., WorkerHttpServer]) -> None:
    server = start()

    assert request(server, "GET", "/healthz?verbose=1").status == 200


def test_a_failing_renderer_is_a_500_without_details(
    start: Callable[..., WorkerHttpServer],
) -> None:
    def broken() -> bytes:
        raise RuntimeError(f"postgresql://ingest:{DSN_PASSWORD}@db/rag")

    server = start(render_metrics=broken)

    reply = request(server, "GET", "/metrics")

    assert reply.status == 500
    assert reply.json() == {"error": "internal error"}


def test_a_dsn_password_in_a_check_failure_never_leaves_the_process_unmasked(
    start: Callable[..., WorkerHttpServer], caplog: pytest.LogCaptureFixture
) -> None:
    def db_down() -> None:
        raise DependencyUnavailable(
            f"could not connect to postgresql://ingest:{DSN_PASSWORD}@db.internal/rag"
        )

    caplog.set_level(logging.DEBUG)
    server = start(readiness_checks={"db": db_down, "redis": lambda: None})

    replies = [
        request(server, method, path)
        for path in ("/healthz", "/readyz", "/metrics", "/nope")
        for method in ("GET", "HEAD", "POST")
    ]

    assert any(r.status == 503 and b'"db": "disconnected"' in r.body for r in replies)
    for reply in replies:
        assert DSN_PASSWORD.encode() not in reply.body
        assert DSN_PASSWORD not in json.dumps(dict(reply.headers))
    assert "postgresql://ingest:***@db.internal/rag" in caplog.text
    assert DSN_PASSWORD not in caplog.text


def test_shutdown_frees_the_port(start: Callable[..., WorkerHttpServer]) -> None:
    server = start()
    port = server.port

    server.shutdown()

    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/healthz")
