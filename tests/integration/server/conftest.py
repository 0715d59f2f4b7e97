"""The probe server on a free loopback port, stopped after the test, and the Redis it may
probe."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from infrastructure.observability import IngestionMetrics
from tests.integration.observability.conftest import redis_client, redis_process
from worker.worker_server import WorkerHttpServer, start_server

__all__ = ["redis_client", "redis_process", "start"]


@pytest.fixture
def start() -> Iterator[Callable[..., WorkerHttpServer]]:
    """Starts servers with healthy checks and empty metrics, `overrides` replacing any option."""
    servers: list[WorkerHttpServer] = []

    def _start(**overrides: object) -> WorkerHttpServer:
        options: dict[str, object] = {
            "readiness_checks": {"db": lambda: None},
            "render_metrics": IngestionMetrics().render,
            "metrics_token": None,
        }
        options.update(overrides)
        server = start_server("127.0.0.1", 0, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.shutdown()
