"""Only `infrastructure.rq_internals` and `infrastructure.observability.otel_internals` name RQ's
and the OpenTelemetry SDK's private APIs, so an upgrade that breaks one breaks one module (and
its canary test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
RQ_INTERNALS = SRC / "infrastructure" / "rq_internals.py"
OTEL_INTERNALS = SRC / "infrastructure" / "observability" / "otel_internals.py"

RQ_PRIVATE = re.compile(
    r"\.(?:intermediate_queue\w*|[gs]et_first_seen\w*|should_be_cleaned_up|push_job_id"
    r"|push_exc_handler|_shutdown_requested_date|handle_work_horse_killed|composite_key"
    r"|handle_job_failure|handle_exception|restore|death_penalty_class"
    r"|key_template)\b|rq\.(?:executions|utils|worker_registration)|rq:(?:queue|wip|workers)"
)
OTEL_PRIVATE = re.compile(r"opentelemetry[\w.]*\._|_handle_fork|_all_metric_readers_lock")


def sources_except(allowed: Path) -> list[Path]:
    return [path for path in sorted(SRC.rglob("*.py")) if path != allowed]


@pytest.mark.parametrize(
    ("pattern", "allowed"), [(RQ_PRIVATE, RQ_INTERNALS), (OTEL_PRIVATE, OTEL_INTERNALS)]
)
def test_private_apis_are_named_in_one_module_only(pattern: re.Pattern[str], allowed: Path) -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sources_except(allowed)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, f"use {allowed.relative_to(SRC)} instead:\n" + "\n".join(offenders)
