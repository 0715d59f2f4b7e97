"""Where a worker's time goes: py-spy attached to a worker and its work horses, summarised."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_PROJECT_PACKAGES = tuple(
    f"{package}/" for package in ("domain", "application", "infrastructure", "worker", "bench")
)
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


@dataclass
class Profile:
    samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    output: Path | None = None

    def top_self(self, n: int = 12) -> list[tuple[str, float]]:
        return [(name, count / self.samples) for name, count in self.self_time.most_common(n)]

    def top_project(self, n: int = 15) -> list[tuple[str, float]]:
        return [(name, count / self.samples) for name, count in self.inclusive.most_common(n)]


def executable() -> str | None:
    """py-spy from PATH, else the one installed beside this Python (an unactivated venv)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.is_file() else None)


def available() -> bool:
    return executable() is not None


@contextmanager
def recording(pid: int, output: Path) -> Iterator[None]:
    """Sample `pid` and its children (the work horses) until the block ends."""
    command = [
        executable() or "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def summarise(raw: Path) -> Profile:
    """Self time per function, and inclusive time per function of the project (`src/`, `bench/`)."""
    profile = Profile(output=raw)
    if not raw.exists():
        return profile
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        profile.samples += count
        if frames:
            profile.self_time[_name(frames[-1])] += count
        for name in {_name(f) for f in frames if _is_project(f)}:
            profile.inclusive[name] += count
    return profile


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()[:100]
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def _is_project(frame: str) -> bool:
    match = _FRAME.match(frame.strip())
    return match is not None and match["file"].startswith(_PROJECT_PACKAGES)
