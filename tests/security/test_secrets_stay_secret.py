"""A worker holding four secrets (database and Redis passwords, metrics token, embedding API key)
meets failures; no log line, HTTP reply, job record or document message carries any of them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from redis import Redis
from sqlalchemy import make_url

from infrastructure.local.redis import RedisServer
from tests.faults.harness import FaultWorld, http_address, http_get

DB_PASSWORD = "db-pass-Zq8x1T"
REDIS_PASSWORD = "redis-pass-Kp2m9W"
METRICS_TOKEN = "metrics-token-Ht5v3R"
API_KEY = "sk-embedding-Jd7n4Y"
SECRETS = (DB_PASSWORD, REDIS_PASSWORD, METRICS_TOKEN, API_KEY)


class _EchoingRejection(BaseHTTPRequestHandler):
    """An embedding service that rejects every request and quotes its headers back (as some do)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": f"bad request; you sent {dict(self.headers)}"}})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def embedder_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingRejection)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def guarded_redis(module_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(module_root / "guarded-redis", keep_data=True, password=REDIS_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secret_world(
    fresh_database: Callable[[], str],
    guarded_redis: RedisServer,
    embedder_url: str,
    module_root: Path,
) -> Iterator[FaultWorld]:
    database = make_url(fresh_database()).set(password=DB_PASSWORD)
    created = FaultWorld(
        database_url=database.render_as_string(hide_password=False),
        redis_url=guarded_redis.url,
        root=module_root / "secret",
        environment={
            "METRICS_REQUIRE_AUTH": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            "EMBEDDER": "openai",
            "EMBEDDING_BASE_URL": embedder_url,
            "EMBEDDING_MODEL": "echo",
            "EMBEDDING_API_KEY": API_KEY,
            "LOG_LEVEL": "DEBUG",
        },
    )
    yield created
    created.close()


@pytest.fixture(scope="module")
def exercised(secret_world: FaultWorld) -> dict[str, Any]:
    """Run failures through the worker and collect everything it said."""
    worker = secret_world.start_worker()
    base = http_address(worker)
    workspace = uuid4()
    rejected = secret_world.submit(workspace, "a.txt", b"words to embed\n")
    unsupported = secret_world.submit(workspace, "b.txt", bytes(range(256)) * 8)
    rows = secret_world.wait_for_final([rejected.id, unsupported.id], timeout=60)
    replies = {
        "metrics without token": http_get(f"{base}/metrics"),
        "metrics with a wrong token": http_get(
            f"{base}/metrics", {"Authorization": "Bearer wrong"}
        ),
        "metrics with the token": http_get(
            f"{base}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}
        ),
        "readyz": http_get(f"{base}/readyz"),
        "healthz": http_get(f"{base}/healthz"),
        "not found": http_get(f"{base}/{METRICS_TOKEN}"),
    }
    redis_dump = _redis_values(secret_world.client())
    worker.kill_everything()
    return {"rows": rows, "replies": replies, "log": worker.output, "redis": redis_dump,
            "rejected": rejected.id, "unsupported": unsupported.id}  # fmt: skip


def _redis_values(redis: Redis) -> str:
    """Every string, hash and stream value in Redis, as text."""
    values = []
    for key in redis.scan_iter():
        kind = redis.type(key).decode()
        if kind == "string":
            values.append(repr(redis.get(key)))
        elif kind == "hash":
            values.append(repr(redis.hgetall(key)))
        elif kind == "stream":
            values.append(repr(redis.xrange(key)))
    return "\n".join(values)


def test_metrics_need_the_token(exercised: dict[str, Any]) -> None:
    replies = exercised["replies"]
    assert replies["metrics without token"][0] == 403
    assert replies["metrics with a wrong token"][0] == 403
    status, body = replies["metrics with the token"]
    assert status == 200 and b"rq_jobs" in body


def test_the_failures_really_happened(exercised: dict[str, Any]) -> None:
    rows = exercised["rows"]
    assert rows[exercised["rejected"]].error_code == "embedder_rejected"
    assert rows[exercised["unsupported"]].error_code == "unsupported_media_type"
    assert "embedder_rejected" in exercised["log"] or "EmbedderRejected" in exercised["log"]


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_reaches_logs_replies_jobs_or_documents(
    exercised: dict[str, Any], secret: str
) -> None:
    assert secret not in exercised["log"]
    for name, (_, body) in exercised["replies"].items():
        assert secret.encode() not in body, name
    assert secret not in exercised["redis"]
    for row in exercised["rows"].values():
        assert secret not in (row.error_message or "")
