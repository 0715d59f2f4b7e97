"""The worker's HTTP side door: /healthz, /readyz and /metrics on a stdlib threading server.

`start_server(...)` runs it in a daemon thread next to the RQ worker and knows nothing about
databases or queues: the caller passes the readiness checks and the metrics renderer in as
callables. `serve(host, port)` is the same server for this process's settings, in the
foreground until Ctrl-C or SIGTERM. Responses never include exception text; request lines are
logged at debug level without headers or query strings.

Hostile clients cannot take its threads: a connection waits in a selector, without a thread,
until its first bytes arrive; at most `max_connections` are handled at once (the next ones are
answered 503 and closed); at most `max_idle_connections` wait (past that the one waiting longest
is closed); and a connection silent for `read_timeout_seconds`, waiting or mid-request, is
closed. Keep-alive and pipelined requests are answered in order (HTTP/1.1).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infrastructure.observability.metrics import PROMETHEUS_CONTENT_TYPE
from worker.worker_health import DependencyCheck, check_readiness, liveness_payload

JSON_CONTENT_TYPE = "application/json"
ALLOWED_METHODS = "GET, HEAD"
_SHUTDOWN_POLL_SECONDS = 0.05
_BUSY_BODY = b'{"error": "busy"}'
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)

_log = logging.getLogger(__name__)


class WorkerHttpServer:
    """A running probe/metrics server; `port` is the bound port, `shutdown()` stops it."""

    def __init__(self, server: _GuardedHttpServer) -> None:
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


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `/healthz`, `/readyz` and `/metrics` for this process on `host:port` until Ctrl-C
    or SIGTERM, then stop cleanly and return.

    Everything else comes from the settings (the environment and `.env`): the readiness checks
    on DATABASE_URL and REDIS_URL, the metrics, and METRICS_REQUIRE_AUTH / METRICS_TOKEN. Raises
    `OSError` when the address cannot be bound. Signal handlers are installed only when called
    from the main thread; from another thread it serves until the process ends.
    """
    from worker import runtime  # the runtime imports the whole application: only when called

    current = runtime.current()
    server = start_server(
        host,
        port,
        readiness_checks=current.readiness_checks(),
        render_metrics=current.metrics().render,
        metrics_token=current.metrics_token(),
    )
    _log.info("serving /healthz, /readyz and /metrics on %s", server.url)
    try:
        _wait_for_a_stop_signal()
    finally:
        server.shutdown()


def _wait_for_a_stop_signal() -> None:
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        stop.wait()
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # a timed wait, so the main thread still runs handlers
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def start_server(
    host: str,
    port: int,
    *,
    readiness_checks: Mapping[str, DependencyCheck],
    render_metrics: Callable[[], bytes],
    metrics_token: str | None,
    readiness_timeout_seconds: float = 1.0,
    max_connections: int = 64,
    max_idle_connections: int = 256,
    read_timeout_seconds: float = 5.0,
) -> WorkerHttpServer:
    """Bind `host:port` (port 0 picks a free one) and serve in a daemon thread.

    With a `metrics_token`, /metrics requires `Authorization: Bearer <token>` (else 403).
    `max_connections`, `max_idle_connections` and `read_timeout_seconds` bound what clients can
    hold (see the module's docstring). Raises `OSError` when the address cannot be bound.
    """
    routes: dict[str, Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]] = {
        "/healthz": lambda _request: _json_response(*liveness_payload()),
        "/readyz": lambda _request: _json_response(
            *check_readiness(readiness_checks, readiness_timeout_seconds)
        ),
        "/metrics": lambda request: _metrics_response(request, render_metrics, metrics_token),
    }
    handler = type(
        "WorkerRequestHandler",
        (_RequestHandler,),
        {"routes": routes, "timeout": read_timeout_seconds},
    )
    server = _GuardedHttpServer(
        (host, port),
        handler,
        max_connections=max_connections,
        max_idle_connections=max_idle_connections,
        read_timeout_seconds=read_timeout_seconds,
    )
    return WorkerHttpServer(server)


class _GuardedHttpServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections get a thread only once they have sent bytes,
    and then at most `max_connections` at once (see the module's docstring).

    `serve_forever` and `shutdown` replace the base class's: the loop selects on the listening
    socket and the waiting connections together. Handler threads are not joined on close: a
    keep-alive client may hold one until its read timeout.
    """

    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        max_connections: int,
        max_idle_connections: int,
        read_timeout_seconds: float,
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_waiting = max_idle_connections
        self._read_timeout = read_timeout_seconds
        self._waiting: dict[socket.socket, tuple[Any, float]] = {}
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = _SHUTDOWN_POLL_SECONDS) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(poll_interval):
                    if key.fileobj is self.socket:
                        self._accept()
                    else:
                        # Every other object registered is an accepted connection's socket.
                        self._dispatch(key.fileobj)  # type: ignore[arg-type]
                self._close_expired()
        finally:
            for connection in list(self._waiting):
                self._drop(connection)
            self._selector.close()
            self._stopped.set()

    def shutdown(self) -> None:
        self._stopping.set()
        self._stopped.wait()

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _accept(self) -> None:
        try:
            connection, address = self.get_request()
        except OSError:
            return
        if len(self._waiting) >= self._max_waiting:
            self._drop(next(iter(self._waiting)))
        self._waiting[connection] = (address, time.monotonic() + self._read_timeout)
        self._selector.register(connection, selectors.EVENT_READ)

    def _dispatch(self, connection: socket.socket) -> None:
        address, _ = self._waiting.pop(connection)
        self._selector.unregister(connection)
        if not self._slots.acquire(blocking=False):
            _answer_busy(connection)
            self.shutdown_request(connection)
            return
        self.process_request(connection, address)

    def _close_expired(self) -> None:
        now = time.monotonic()
        expired = [conn for conn, (_, deadline) in self._waiting.items() if deadline <= now]
        for connection in expired:
            self._drop(connection)

    def _drop(self, connection: socket.socket) -> None:
        del self._waiting[connection]
        self._selector.unregister(connection)
        self.shutdown_request(connection)


def _answer_busy(connection: socket.socket) -> None:
    """The 503 fits any fresh socket's send buffer; a client that cannot take it loses it."""
    connection.setblocking(False)
    with contextlib.suppress(OSError):
        connection.send(_BUSY_REPLY)


class _RequestHandler(BaseHTTPRequestHandler):
    routes: dict[str, Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]]
    server_version = "ingestion-worker"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    path = ""  # until a request line is parsed: an overlong one never is, yet is logged

    def do_GET(self) -> None:
        self._respond(include_body=True)

    def do_HEAD(self) -> None:
        self._respond(include_body=False)

    def do_POST(self) -> None:
        self._refuse()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_POST

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
        _log.debug("%s %s -> %s", self.command or "-", self._path(), code)

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
