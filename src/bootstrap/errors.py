"""The one error the composition root raises."""

from __future__ import annotations


class StartupError(RuntimeError):
    """A dependency or setting prevents the process from starting; the message names it."""
