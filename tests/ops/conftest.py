"""Fixtures for the operator's tools: a real Prometheus on loopback, and skips when the Debian
packages that bring `prometheus`, `promtool`, `yamllint` and `shellcheck` are not installed
(`.ci/run` installs them)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
JOB = "ingestion-worker"


def require_tool(name: str) -> str:
    """The path of command `name`, or skip the test saying which package brings it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed: apt-get install prometheus yamllint shellcheck "
            "(.ci/run does it)"
        )
    return path


class PrometheusServer:
    """A running `prometheus` on loopback, with its own storage, read through its HTTP API."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.client = httpx.Client(base_url=url, timeout=10)

    def api(self, path: str, **params: Any) -> Any:
        """The `data` of a successful `/api/v1/<path>` answer; fails the test otherwise."""
        reply = self.client.get(f"/api/v1/{path}", params=params)
        body = reply.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> dict[str, float]:
        """An instant vector as {label set rendered as text: value}."""
        data = self.api("query", query=expression)
        return {
            ",".join(f"{k}={v}" for k, v in sorted(found["metric"].items())): float(
                found["value"][1]
            )
            for found in data["result"]
        }

    def wait_until(
        self, expression: str, accept: Callable[[dict[str, float]], bool], timeout: float = 60
    ) -> dict[str, float]:
        """Poll `expression` until `accept(result)`; fail with the last result after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expression)
            if accept(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} stayed {result}; log:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


StartPrometheus = Callable[[Sequence[str]], PrometheusServer]


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Start `prometheus` scraping `targets` (host:port) every second as job ingestion-worker,
    with deploy/prometheus/rules.yml loaded; stopped at teardown."""
    binary = require_tool("prometheus")
    started: list[PrometheusServer] = []

    def start(targets: Sequence[str]) -> PrometheusServer:
        folder = tmp_path / f"prometheus-{len(started)}"
        folder.mkdir()
        config = folder / "prometheus.yml"
        config.write_text(yaml.safe_dump(_config(targets)))
        port = _free_port()
        log = folder / "log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = PrometheusServer(process, f"http://127.0.0.1:{port}", log)
        started.append(server)
        _wait_ready(server)
        return server

    yield start
    for server in started:
        server.stop()


def _config(targets: Sequence[str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "rules.yml")],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: PrometheusServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if server.client.get("/-/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"prometheus did not become ready:\n{server.log_tail()}")
