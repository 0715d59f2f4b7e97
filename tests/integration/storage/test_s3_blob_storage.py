"""What only the S3 adapter has to get right: translating the server's and network's failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from application.errors import BlobNotFound, DependencyUnavailable, InvalidStorageKey
from infrastructure.storage import S3BlobStorage, S3Timeouts, make_s3_client

FAST_FAIL = S3Timeouts(connect_seconds=1, read_seconds=2, max_attempts=1)


def client_for(endpoint: str) -> Any:
    return make_s3_client(endpoint, "us-east-1", "test", "test", FAST_FAIL)


class _Unavailable(BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with 503 Slow Down."""

    protocol_version = "HTTP/1.1"

    def _refuse(self) -> None:
        self.server.requests.append(self.command)  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your rate</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_DELETE = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def unavailable_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def unavailable_endpoint(unavailable_server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{unavailable_server.server_address[1]}"


@pytest.fixture
def closed_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_endpoint_is_a_dependency_failure(closed_endpoint: str) -> None:
    storage = S3BlobStorage("bucket", client=client_for(closed_endpoint))
    with pytest.raises(DependencyUnavailable):
        storage.get("ws/doc.pdf")
    with pytest.raises(DependencyUnavailable):
        storage.put("ws/doc.pdf", b"x")


def test_server_errors_are_dependency_failures(unavailable_endpoint: str) -> None:
    storage = S3BlobStorage("bucket", client=client_for(unavailable_endpoint))
    for operation in (
        lambda: storage.get("ws/doc.pdf"),
        lambda: storage.put("ws/doc.pdf", b"x"),
        lambda: storage.exists("ws/doc.pdf"),
    ):
        with pytest.raises(DependencyUnavailable):
            operation()


def test_max_attempts_counts_the_first_attempt(
    unavailable_server: ThreadingHTTPServer, unavailable_endpoint: str
) -> None:
    timeouts = S3Timeouts(connect_seconds=1, read_seconds=2, max_attempts=2)
    client = make_s3_client(unavailable_endpoint, "us-east-1", "test", "test", timeouts)
    with pytest.raises(DependencyUnavailable):
        S3BlobStorage("bucket", client=client).size("ws/doc.pdf")
    assert unavailable_server.requests == ["HEAD", "HEAD"]  # type: ignore[attr-defined]


def test_a_missing_bucket_is_a_dependency_failure_not_a_missing_blob(s3_client: Any) -> None:
    storage = S3BlobStorage("no-such-bucket-here", client=s3_client)
    with pytest.raises(DependencyUnavailable, match="NoSuchBucket"):
        storage.get("ws/doc.pdf")


def test_a_key_past_s3s_length_limit_is_invalid(s3_storage: S3BlobStorage) -> None:
    with pytest.raises(InvalidStorageKey, match="1024"):
        s3_storage.put("ws/" + "k" * 1100, b"x")


def test_objects_land_under_the_key_in_the_bucket(
    s3_storage: S3BlobStorage, s3_client: Any
) -> None:
    s3_storage.put("ws/doc/report.pdf", b"%PDF-1.7")
    response = s3_client.get_object(Bucket=s3_storage.bucket, Key="ws/doc/report.pdf")
    assert response["Body"].read() == b"%PDF-1.7"
    s3_client.delete_object(Bucket=s3_storage.bucket, Key="ws/doc/report.pdf")
    with pytest.raises(BlobNotFound):
        s3_storage.size("ws/doc/report.pdf")
