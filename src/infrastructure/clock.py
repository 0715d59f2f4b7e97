"""The wall clock the application reads through its `Clock` port."""

from __future__ import annotations

from datetime import UTC, datetime

from application.ports import Clock


class SystemClock(Clock):
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
