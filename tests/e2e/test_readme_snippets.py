"""The README's Python snippets and `ingest services`, run as a new user would: verbatim, in an
empty folder, with no settings at all (so on the embedded services, in a home of their own inside
that folder), leaving nothing running."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
#: What a fresh shell passes on: nothing of this project's settings.
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "HF_HUB_OFFLINE", "TMPDIR")
#: The embedded Postgres boots in a few seconds, a new cluster in a few more.
BOOT_SECONDS = 120.0

pytestmark = pytest.mark.timeout(600)


def snippet(name: str) -> str:
    """The Python code block the README marks `<!-- snippet: name -->`."""
    text = README.read_text()
    marker = f"<!-- snippet: {name} -->\n```python\n"
    start = text.index(marker) + len(marker)
    return text[start : text.index("```", start)]


@pytest.fixture
def empty_folder() -> Iterator[Path]:
    """A new empty folder the embedded Postgres (run as its own user when root) may use."""
    folder = Path(tempfile.mkdtemp(prefix="ingest-new-user-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def fresh_environment(folder: Path) -> dict[str, str]:
    """What a fresh shell passes on, with HOME (and so the per-user data directory, DATA_DIR's
    default) inside `folder`."""
    kept = {key: os.environ[key] for key in KEPT_ENVIRONMENT if key in os.environ}
    return {**kept, "HOME": str(folder / "home"), "XDG_DATA_HOME": str(folder / "home" / "data")}


def python(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env=fresh_environment(folder),
        capture_output=True,
        text=True,
        timeout=BOOT_SECONDS,
    )


def ingest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=folder,
        env=fresh_environment(folder),
        capture_output=True,
        text=True,
        timeout=BOOT_SECONDS,
    )


def left_running(folder: Path) -> list[str]:
    """Command lines of the processes that name `folder` (the embedded servers do)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(folder) in command:
            found.append(command)
    return found


def assert_nothing_left(folder: Path) -> None:
    """Servers stop as their last user exits; allow them a moment to finish exiting."""
    deadline = time.monotonic() + 30
    while left_running(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left_running(folder) == []


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for_http(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + BOOT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            get(port, "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server never answered")


def test_readiness_payload_answers_for_the_embedded_services(empty_folder: Path) -> None:
    result = python(snippet("readiness"), empty_folder)

    assert result.returncode == 0, result.stderr
    assert "{'db': 'connected', 'redis': 'connected', 'status': 'ready'}" in result.stdout
    assert_nothing_left(empty_folder)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_every_probe_and_stops_cleanly(
    empty_folder: Path, stop_signal: signal.Signals
) -> None:
    code = snippet("serve")
    port = int(code.split("port=")[1].split(")")[0])
    server = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=empty_folder,
        env=fresh_environment(empty_folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_http(port, server)
        answers = {path: get(port, path) for path in ("/healthz", "/readyz", "/metrics")}
        server.send_signal(stop_signal)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()

    assert answers["/healthz"] == (200, b'{"status": "alive"}')
    assert answers["/readyz"][0] == 200 and b'"db": "connected"' in answers["/readyz"][1]
    assert answers["/metrics"][0] == 200 and b"# TYPE rq_jobs gauge" in answers["/metrics"][1]
    assert server.returncode == 0 and "Traceback" not in stderr, stderr
    assert_nothing_left(empty_folder)


def test_process_document_job_needs_no_setup_step(empty_folder: Path) -> None:
    code = snippet("process")

    unknown = python(code, empty_folder)
    assert_nothing_left(empty_folder)
    prepared = python(PREPARE_THE_READMES_DOCUMENT, empty_folder)
    assert_nothing_left(empty_folder)
    processed = python(code, empty_folder)

    assert unknown.returncode == 1
    assert "DocumentNotFound: no document 6f1c2a4e-8b1d-4c3e-9f5a-2d7b8e9c0a11" in unknown.stderr
    assert "ProgrammingError" not in unknown.stderr
    assert prepared.returncode == 0, prepared.stderr
    assert processed.returncode == 0, processed.stderr
    assert "'status': 'ready'" in processed.stdout
    assert_nothing_left(empty_folder)


def test_ingest_services_keep_the_services_up_until_stopped(empty_folder: Path) -> None:
    started = ingest(empty_folder, "services", "start")
    try:
        running = left_running(empty_folder)
        status = ingest(empty_folder, "services", "status")
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in started.stdout.splitlines()
            if line.startswith("export ")
        )
    finally:
        stopped = ingest(empty_folder, "services", "stop")

    assert started.returncode == 0, started.stderr
    assert set(exports) == {"DATABASE_URL", "REDIS_URL"}
    assert any("redis-server" in c for c in running) and any("postgres -D" in c for c in running)
    assert "postgres running" in status.stdout and "redis    running" in status.stdout
    assert stopped.returncode == 0, stopped.stderr
    assert_nothing_left(empty_folder)


def test_the_cli_and_a_burst_worker_leave_nothing_running(empty_folder: Path) -> None:
    status = ingest(empty_folder, "status")
    assert_nothing_left(empty_folder)
    worker = subprocess.run(
        [sys.executable, "-m", "worker", "--burst"],
        cwd=empty_folder,
        env={**fresh_environment(empty_folder), "HTTP_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=BOOT_SECONDS,
    )

    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert worker.returncode == 0 and "Traceback" not in worker.stderr, worker.stderr
    assert_nothing_left(empty_folder)


#: What a product API does before enqueuing: store the file, insert the row (here with the ids
#: the README's snippet names).
PREPARE_THE_READMES_DOCUMENT = """
from uuid import UUID
from application.ports import BlobStorage, Clock, UnitOfWorkFactory
from application.usecases.ingestion.submit_document import storage_key_for
from bootstrap import build_container
from domain import Document
from infrastructure.settings import load_settings

document_id = UUID("6f1c2a4e-8b1d-4c3e-9f5a-2d7b8e9c0a11")
workspace_id = UUID("0b7e4d2c-3a5f-4e6b-8c9d-1f2a3b4c5d6e")
data = b"Chunks are written in one transaction.\\n\\nReaders never see half a document.\\n"
container = build_container(load_settings())
key = storage_key_for(workspace_id, document_id, "notes.txt")
container.resolve(BlobStorage).put(key, data)
document = Document.register(
    document_id=document_id, workspace_id=workspace_id, filename="notes.txt", storage_key=key,
    size_bytes=len(data), content_sha256=None, now=container.resolve(Clock).now(),
)
with container.resolve(UnitOfWorkFactory)() as uow:
    uow.documents.add(document)
    uow.commit()
"""
