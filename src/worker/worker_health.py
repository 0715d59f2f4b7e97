"""Liveness and readiness verdicts for the worker's HTTP probes.

`readiness_payload()` answers for this process's settings: `{"db": "connected"|"disconnected",
"redis": ..., "status": "ready"|"not ready"}`. `check_readiness(checks)` is the general form it
delegates to, which the HTTP server uses with the checks it was given.

Liveness is the process answering at all: the probe server stops when the work loop ends, and a
database blip must not restart every pod. Readiness runs each dependency check concurrently with
a short timeout and names what is down. Payloads never carry exception messages, which may hold
hosts or credentials; the reason is the exception's type name, and the redacted message goes to
the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

from infrastructure.redaction import redact

CONNECTED = "connected"
DISCONNECTED = "disconnected"
READY = "ready"
NOT_READY = "not ready"
ALIVE = "alive"
TIMED_OUT = "Timeout"

DependencyCheck = Callable[[], None]
Payload = dict[str, object]

_log = logging.getLogger(__name__)


def liveness_payload() -> tuple[bool, Payload]:
    """(True, `{"status": "alive"}`): whoever can ask is answered by a live process."""
    return True, {"status": ALIVE}


def readiness_payload() -> Payload:
    """Whether this process's database and Redis answer, from the settings (the environment and
    `.env`): `{"db": "connected"|"disconnected", "redis": ..., "status": "ready"|"not ready"}`,
    plus `"reasons"` naming the error type of each failed check.

    Never raises for a dead dependency, and answers within the checks' timeout (the first call in
    a process builds its container; with no DATABASE_URL or REDIS_URL that starts the embedded
    services, which takes a few seconds once).
    """
    from worker import runtime  # the runtime imports the whole application: only when called

    return check_readiness(runtime.current().readiness_checks())[1]


def check_readiness(
    checks: Mapping[str, DependencyCheck], timeout_seconds: float = 1.0
) -> tuple[bool, Payload]:
    """Run every check at once; a check passes if it returns within `timeout_seconds`.

    Returns (ready, payload) with payload `{"<name>": "connected"|"disconnected", ...,
    "status": "ready"|"not ready"}` plus `"reasons": {"<name>": "<ErrorType>"|"Timeout"}` for
    failed checks.
    """
    failures = _run_checks(checks, timeout_seconds)
    payload: Payload = {name: DISCONNECTED if name in failures else CONNECTED for name in checks}
    ready = not failures
    payload["status"] = READY if ready else NOT_READY
    if failures:
        payload["reasons"] = failures
    return ready, payload


def _run_checks(checks: Mapping[str, DependencyCheck], timeout_seconds: float) -> dict[str, str]:
    if not checks:
        return {}
    executor = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readiness")
    try:
        futures = {name: executor.submit(check) for name, check in checks.items()}
        wait(futures.values(), timeout=timeout_seconds)
        return {
            name: reason
            for name, future in futures.items()
            if (reason := _failure(name, future)) is not None
        }
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _failure(name: str, future: Future[None]) -> str | None:
    if not future.done():
        _log.warning("readiness check %s timed out", name)
        return TIMED_OUT
    error = future.exception()
    if error is None:
        return None
    _log.warning("readiness check %s failed: %s", name, redact(str(error)))
    return type(error).__name__
