"""Canary: the installed OpenTelemetry SDK still has what `otel_internals` relies on.

Each assertion names the private API it checks, so an SDK upgrade that changes one fails here
rather than as a deadlock or a slow fork in a work horse.
"""

from __future__ import annotations

import inspect
import os
import re
import threading

from opentelemetry.sdk.metrics import MeterProvider

from infrastructure.observability.otel_internals import ForkQuietMeterProvider

SEE = "; see src/infrastructure/observability/otel_internals.py"


def test_the_sdk_runs_its_fork_handler_after_a_fork() -> None:
    source = inspect.getsource(MeterProvider.__init__)
    assert "register_at_fork" in source and "self._handle_fork" in source, (
        "MeterProvider.__init__ no longer registers MeterProvider._handle_fork with "
        "os.register_at_fork, so ForkQuietMeterProvider's override is never called" + SEE
    )


def test_the_sdk_fork_handler_renews_only_the_locks_ours_renews() -> None:
    theirs = inspect.getsource(MeterProvider._handle_fork)
    ours = inspect.getsource(ForkQuietMeterProvider._handle_fork)
    renewed = re.compile(r"(?:self|type\(self\))\.(\w+) = (?:threading\.)?Lock\(\)")
    assert set(renewed.findall(theirs)) == set(renewed.findall(ours)), (
        "MeterProvider._handle_fork renews other locks than ForkQuietMeterProvider._handle_fork"
        + SEE
    )


def test_the_locks_ours_renews_are_the_providers() -> None:
    provider = ForkQuietMeterProvider()
    try:
        for name in ("_lock", "_meter_lock", "_all_metric_readers_lock"):
            assert hasattr(provider, name), f"MeterProvider.{name} is gone" + SEE
        shared = MeterProvider._all_metric_readers_lock  # type: ignore[attr-defined]
        assert isinstance(shared, type(threading.Lock())), (
            "MeterProvider._all_metric_readers_lock is no longer a class-wide lock" + SEE
        )
    finally:
        provider.shutdown()


def test_a_provider_records_after_its_fork_handler_ran() -> None:
    provider = ForkQuietMeterProvider()
    try:
        provider._handle_fork()
        provider.get_meter("canary").create_counter("canary").add(1)
    finally:
        provider.shutdown()
    assert hasattr(os, "register_at_fork")
