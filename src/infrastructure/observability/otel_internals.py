"""Every use of the OpenTelemetry SDK's private API, in one place.

pyproject.toml pins opentelemetry-sdk to the minor version this was written against, and
tests/unit/observability/test_otel_internals_canary.py fails, naming the internal, when an SDK
release no longer has what this module relies on. Other modules use only the SDK's public API
plus this module.
"""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics import MeterProvider


class ForkQuietMeterProvider(MeterProvider):
    """A meter provider that, in a forked child, only renews its locks.

    The SDK's own fork handler also re-detects the resource (process id and the like), running
    its detectors on a fresh thread pool in every child: about a millisecond per RQ work horse,
    spent on attributes this exporter never shows (`disable_target_info`). Work horses record
    through the relay's pipe, not through this provider, so nothing is lost.

    Overrides `MeterProvider._handle_fork`, which the SDK registers with `os.register_at_fork`
    and which has no public switch, and renews the same locks it does: the provider's `_lock`
    and `_meter_lock`, and the `_all_metric_readers_lock` every provider shares."""

    def _handle_fork(self) -> None:
        self._lock = threading.Lock()
        self._meter_lock = threading.Lock()
        type(self)._all_metric_readers_lock = threading.Lock()
