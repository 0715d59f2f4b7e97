"""The worker's HTTP side door: /healthz, /readyz and /metrics on a stdlib threading server.

The server runs in a daemon thread next to the RQ worker. It knows nothing about databases or
queues: the runtime passes the readiness checks, the liveness test and the metrics renderer in
as callables. Responses never include exception text; request lines are logged at debug level
without headers or query strings.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from infrastructure.observability.metrics import PROMETHEUS_CONTENT_TYPE
from worker.worker_health import DependencyCheck, liveness_payload, readiness_payload

JSON_CONTENT_TYPE = "application/json"
ALLOWED_METHODS = "GET, HEAD"
_SHUTDOWN_POLL_SECONDS = 0.05

_log = logging.getLogger(__name__)


class WorkerHttpServer:
    """A running probe/metrics server; `port` is the bound port, `shutdown()` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
            name="worker-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def shutdown(self) -> None:
        """Stop serving, close the socket and wait for the serving thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve(
    host: str,
    port: int,
    *,
    readiness_checks: Mapping[str, DependencyCheck],
    is_alive: Callable[[], bool],
    render_metrics: Callable[[], bytes],
    metrics_token: str | None,
    readiness_timeout_seconds: float = 1.0,
) -> WorkerHttpServer:
    """Bind `host:port` (port 0 picks a free one) and serve in a daemon thread.

    With a `metrics_token`, /metrics requires `Authorization: Bearer <token>` (else 403).
    Raises `OSError` when the address cannot be bound.
    """
    routes: dict[str, Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]] = {
        "/healthz": lambda _request: _json_response(*liveness_payload(is_alive)),
        "/readyz": lambda _request: _json_response(
            *readiness_payload(readiness_checks, readiness_timeout_seconds)
        ),
        "/metrics": lambda request: _metrics_response(request, render_metrics, metrics_token),
    }
    handler = type("WorkerRequestHandler", (_RequestHandler,), {"routes": routes})
    return WorkerHttpServer(ThreadingHTTPServer((host, port), handler))


class _RequestHandler(BaseHTTPRequestHandler):
    routes: dict[str, Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]]
    server_version = "ingestion-worker"
    sys_version = ""

    def do_GET(self) -> None:
        self._respond(include_body=True)

    def do_HEAD(self) -> None:
        self._respond(include_body=False)

    def do_POST(self) -> None:
        self._refuse()

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _respond(self, *, include_body: bool) -> None:
        route = self.routes.get(self._path())
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, *_json({"error": "not found"}), include_body)
            return
        try:
            status, content_type, body = route(self)
        except Exception:
            _log.exception("probe handler failed for %s", self._path())
            status, (content_type, body) = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _json({"error": "internal error"}),
            )
        self._send(status, content_type, body, include_body)

    def _refuse(self) -> None:
        if self._path() not in self.routes:
            self._send(HTTPStatus.NOT_FOUND, *_json({"error": "not found"}), True)
            return
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            *_json({"error": "method not allowed"}),
            True,
            extra_headers={"Allow": ALLOWED_METHODS},
        )

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        include_body: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if include_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _log.debug("%s %s -> %s", self.command, self._path(), code)

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("http server: " + format, *args)


def _json(payload: Mapping[str, object]) -> tuple[str, bytes]:
    return JSON_CONTENT_TYPE, json.dumps(payload).encode()


def _json_response(ok: bool, payload: Mapping[str, object]) -> tuple[int, str, bytes]:
    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    return (status, *_json(payload))


def _metrics_response(
    request: BaseHTTPRequestHandler, render: Callable[[], bytes], token: str | None
) -> tuple[int, str, bytes]:
    if token and not _bearer_matches(request.headers.get("Authorization"), token):
        return (HTTPStatus.FORBIDDEN, *_json({"error": "forbidden"}))
    return HTTPStatus.OK, PROMETHEUS_CONTENT_TYPE, render()


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
