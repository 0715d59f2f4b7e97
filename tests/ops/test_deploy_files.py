"""deploy/: what can be checked without building images. YAML and scripts lint clean, and the
probe paths, the port, the environment variables and the grace period agree with the worker."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infrastructure.settings import Settings, load_settings
from tests.ops.conftest import DEPLOY, REPOSITORY, require_tool
from worker.worker_server import start_server

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
#: Variables the image sets for Python and pip themselves, not for the worker's settings.
RUNTIME_VARIABLES = {
    "PATH",
    "PYTHONUNBUFFERED",
    "HF_HUB_OFFLINE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
SETTINGS = {name.upper() for name in Settings.model_fields}
DEFAULT_PORT = Settings.model_fields["http_port"].default
DEFAULT_JOB_TIMEOUT = Settings.model_fields["job_timeout"].default


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _k8s(kind: str) -> dict[str, Any]:
    found = [d for path in K8S.glob("*.yaml") for d in _documents(path) if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def _worker_container() -> dict[str, Any]:
    containers = _k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(containers[0])


def _config_map() -> dict[str, str]:
    return dict(_k8s("ConfigMap")["data"])


def _dockerfile_environment() -> dict[str, str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = re.findall(r"^ENV (.+)$", text, flags=re.MULTILINE)
    return dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", " ".join(pairs)))


def _worker_services() -> list[dict[str, Any]]:
    services = _documents(COMPOSE)[0]["services"]
    return [s for s in services.values() if s.get("image") == "ingestion-worker"]


def _environment_names() -> dict[str, set[str]]:
    """Every variable each deploy file sets for the worker's image."""
    jobs = [_k8s("Job")["spec"]["template"]["spec"]["containers"][0], _worker_container()]
    return {
        "Dockerfile": set(_dockerfile_environment()),
        "compose.yaml": {name for s in _worker_services() for name in s["environment"]},
        "k8s": set(_config_map()) | {e["name"] for c in jobs for e in c.get("env", [])},
    }


def test_yaml_files_pass_yamllint() -> None:
    yamllint = require_tool("yamllint")
    result = subprocess.run(
        [yamllint, "--strict", "."], cwd=REPOSITORY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_pass_shellcheck() -> None:
    shellcheck = require_tool("shellcheck")
    scripts = [REPOSITORY / ".ci" / "run", *DEPLOY.rglob("*.sh")]
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_environment_variable_is_a_setting() -> None:
    for source, names in _environment_names().items():
        unknown = names - SETTINGS - RUNTIME_VARIABLES
        assert not unknown, f"{source} sets {sorted(unknown)}, which no setting reads"


def test_the_kubernetes_settings_are_valid_together() -> None:
    values = {name.lower(): value for name, value in _config_map().items()}

    settings = load_settings(**values, metrics_token="from-the-secret")

    assert settings.processing_lease > settings.job_timeout


def test_probes_and_port_are_the_ones_the_worker_serves(http_server_url: str) -> None:
    container = _worker_container()
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert httpx.get(http_server_url + liveness["path"]).json() == {"status": "alive"}
    assert httpx.get(http_server_url + readiness["path"]).json()["status"] == "ready"
    assert ports[liveness["port"]] == ports[readiness["port"]] == DEFAULT_PORT
    assert int(_config_map()["HTTP_PORT"]) == DEFAULT_PORT
    assert int(_dockerfile_environment()["HTTP_PORT"]) == DEFAULT_PORT
    assert f"EXPOSE {DEFAULT_PORT}" in DOCKERFILE.read_text()
    healthcheck = re.search(r"HEALTHCHECK .*", DOCKERFILE.read_text(), flags=re.DOTALL)
    assert healthcheck and f"127.0.0.1:{DEFAULT_PORT}{liveness['path']}" in healthcheck.group()


def test_grace_periods_outlast_the_job_timeout() -> None:
    job_timeout = int(_config_map().get("JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT))
    pod = _k8s("Deployment")["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] > job_timeout
    for service in _worker_services():
        if "stop_grace_period" in service:
            timeout = int(service["environment"].get("JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT))
            assert int(service["stop_grace_period"].removesuffix("s")) > timeout


def test_the_image_is_non_root_pins_torch_and_bakes_in_the_model() -> None:
    text = DOCKERFILE.read_text()

    torch = text.index("torch==2.13.0")
    project = text.index("pip install '.[semantic]'")
    assert torch < project
    assert re.search(r"^USER (?!root)\S+", text, flags=re.MULTILINE)
    assert _dockerfile_environment()["EMBEDDER"] == "sentence-transformers"


@pytest.fixture
def http_server_url() -> Iterator[str]:
    server = start_server(
        "127.0.0.1",
        0,
        readiness_checks={"db": lambda: None, "redis": lambda: None},
        render_metrics=lambda: b"",
        metrics_token=None,
    )
    yield server.url
    server.shutdown()
