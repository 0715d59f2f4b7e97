"""The one object through which this process's worker and job functions reach the application.

An entry point installs it once (`install`); RQ's forked work horses and pool processes inherit
it, and an executor process (WORKER_MODE=pool, `worker.executor`) builds and installs its own.
A job function called in a process that installed nothing (a Python shell, `rq worker` started
by hand) builds one from the settings on first use.
"""

from __future__ import annotations

from collections.abc import Callable

from application.retry_policy import RetryPolicy
from application.usecases.ingestion import (
    FailCrashedAttempt,
    ProcessUploadedDocument,
    RecoverAbandonedWork,
)
from bootstrap import Container, build_container, readiness_checks
from infrastructure.observability import IngestionMetrics, MetricsRelay, Tracing
from infrastructure.settings import Settings, load_settings


class WorkerRuntime:
    """Typed access to what a worker process uses, resolved from its container.

    Use cases are resolved on each access, so a port replaced in the container (tests do) is
    what the next job sees.
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        self.settings = container.resolve(Settings)
        self.retry_policy = container.resolve(RetryPolicy)
        self.relay = container.resolve(MetricsRelay)
        self.tracing = container.resolve(Tracing)

    def process_uploaded_document(self) -> ProcessUploadedDocument:
        """The ingestion use case, as the container serves it now."""
        return self.container.resolve(ProcessUploadedDocument)

    def fail_crashed_attempt(self) -> FailCrashedAttempt:
        """The use case that records a failure on a document whose attempt's process died."""
        return self.container.resolve(FailCrashedAttempt)

    def recover_abandoned_work(self) -> RecoverAbandonedWork:
        """The recovery use case, as the container serves it now."""
        return self.container.resolve(RecoverAbandonedWork)

    def readiness_checks(self) -> dict[str, Callable[[], None]]:
        """The named dependency probes `/readyz` runs (`db`, `redis`)."""
        return readiness_checks(self.container)

    def metrics(self) -> IngestionMetrics:
        """This process's metrics, as `/metrics` renders them."""
        return self.container.resolve(IngestionMetrics)

    def metrics_token(self) -> str | None:
        """The bearer token `/metrics` requires, or None when it requires none."""
        token = self.settings.metrics_token
        if token is None or not self.settings.metrics_require_auth:
            return None
        return token.get_secret_value()


_installed: WorkerRuntime | None = None


def install(runtime: WorkerRuntime | None) -> None:
    """Make `runtime` the one this process (and its forks) uses; None forgets it."""
    global _installed
    _installed = runtime


def current() -> WorkerRuntime:
    """The installed runtime, or one built from the settings (and installed) on first use."""
    global _installed
    if _installed is None:
        _installed = WorkerRuntime(build_container(load_settings()))
    return _installed
