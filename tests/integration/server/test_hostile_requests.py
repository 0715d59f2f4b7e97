"""The probe server against hostile clients, through real sockets on loopback.

Overlong request lines, pipelining, unexpected methods, and floods of connections that send
nothing: every one is answered or closed, and none can take the server's threads.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable

import pytest

from tests.integration.server.test_worker_server import request
from worker.worker_server import WorkerHttpServer

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def connect(server: WorkerHttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65_536):
            received += chunk
    return received


def statuses(replies: bytes) -> list[int]:
    return [int(code) for code in _STATUS.findall(replies)]


def test_a_one_megabyte_request_line_is_answered_414(
    start: Callable[..., WorkerHttpServer],
) -> None:
    server = start()
    with connect(server) as connection:
        line = b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: probe\r\n\r\n"
        sender = threading.Thread(target=_send_ignoring_resets, args=(connection, line))
        sender.start()
        first = connection.recv(65_536)
        sender.join()

    assert statuses(first) == [414]
    assert request(server, "GET", "/healthz").status == 200


def _send_ignoring_resets(connection: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        connection.sendall(data)


def test_pipelined_requests_are_answered_in_order(start: Callable[..., WorkerHttpServer]) -> None:
    server = start()
    pipelined = (
        b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: probe\r\n\r\n"
        b"HEAD /readyz HTTP/1.1\r\nHost: probe\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(pipelined)
        replies = read_until_closed(connection)

    assert statuses(replies) == [200, 404, 200, 200]
    assert replies.count(b'{"status": "alive"}') == 2


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT"])
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_other_standard_methods_are_405_with_allow(
    start: Callable[..., WorkerHttpServer], method: str, path: str
) -> None:
    server = start()

    reply = request(server, method, path)

    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"


def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout(
    start: Callable[..., WorkerHttpServer],
) -> None:
    server = start(read_timeout_seconds=0.5)
    with connect(server) as idle, connect(server) as half:
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n")

        assert read_until_closed(idle) == b""
        assert statuses(read_until_closed(half)) in ([], [408])


def test_a_flood_of_idle_connections_takes_no_threads_and_probes_still_answer(
    start: Callable[..., WorkerHttpServer],
) -> None:
    server = start(max_connections=8, max_idle_connections=64)
    threads_before = threading.active_count()
    idle = [connect(server) for _ in range(200)]
    try:
        reply = request(server, "GET", "/healthz")
        threads_during = threading.active_count()
    finally:
        for connection in idle:
            connection.close()

    assert reply.status == 200
    assert threads_during <= threads_before + 8


def test_connections_past_the_cap_are_answered_503_at_once(
    start: Callable[..., WorkerHttpServer],
) -> None:
    server = start(max_connections=4)
    threads_before = threading.active_count()
    stalled = [connect(server) for _ in range(4)]
    for connection in stalled:
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")  # a request never finished
    try:
        with connect(server) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
            refused = read_until_closed(extra)
        threads_during = threading.active_count()
    finally:
        for connection in stalled:
            connection.close()

    assert statuses(refused) == [503]
    assert threads_during <= threads_before + 4
