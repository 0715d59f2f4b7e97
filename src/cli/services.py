"""`ingest services start|stop|status`: keep the embedded Postgres and Redis up between commands.

The embedded services belong to the processes that use them and stop when the last one exits.
`start` launches a small keeper process (`python -m cli.services keep`) that holds both until
`stop`, so outside clients (the `rq` CLI, `psql`, another worker) can use them meanwhile; it
writes what they need to `DATA_DIR/services.json` and prints it as `export` lines.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bootstrap import StartupError, resolve_services
from infrastructure.local.handles import process_alive
from infrastructure.local.postgres import embedded_postgres_users
from infrastructure.local.redis import embedded_redis_users
from infrastructure.settings import Settings, load_settings

#: How long `start` waits for the keeper to have both services up, and `stop` for it to exit.
WAIT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class KeptServices:
    """What a running keeper published: its pid and the services' URLs."""

    pid: int
    database_url: str
    redis_url: str

    def exports(self) -> str:
        """The shell lines an outside client needs."""
        return (
            f"export DATABASE_URL={shlex.quote(self.database_url)}\n"
            f"export REDIS_URL={shlex.quote(self.redis_url)}"
        )


def start(settings: Settings) -> int:
    """Start the keeper (unless one runs) and print the `export` lines."""
    if settings.database_url is not None and settings.redis_url is not None:
        print("DATABASE_URL and REDIS_URL are set: no embedded service to start", file=sys.stderr)
        return 0
    data_dir = settings.data_dir.resolve()
    kept = running_keeper(data_dir)
    if kept is None:
        kept = _launch_keeper(data_dir)
    print(f"# embedded services kept up by process {kept.pid}; data in {data_dir}")
    print(kept.exports())
    return 0


def stop(settings: Settings) -> int:
    """Stop the keeper; the services stop with it unless another process still uses them."""
    data_dir = settings.data_dir.resolve()
    kept = running_keeper(data_dir)
    if kept is None:
        print(f"no embedded services kept up for {data_dir}")
        return 0
    os.kill(kept.pid, signal.SIGTERM)
    deadline = time.monotonic() + WAIT_SECONDS
    while process_alive(kept.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(kept.pid):
        print(f"ingest: the keeper (process {kept.pid}) did not stop", file=sys.stderr)
        return 1
    print(f"stopped the embedded services kept up for {data_dir}")
    return 0


def status(settings: Settings) -> int:
    """Say which services run where, and who holds them."""
    data_dir = settings.data_dir.resolve()
    kept = running_keeper(data_dir)
    if kept is not None:
        print(f"kept up by process {kept.pid} (`ingest services stop` stops them)")
    for name, users in (
        ("postgres", embedded_postgres_users(data_dir / "postgres")),
        ("redis", embedded_redis_users(data_dir)),
    ):
        state = f"running, used by {_pids(users)}" if users else "stopped"
        print(f"{name:<9}{state}  ({data_dir / name})")
    if settings.database_url is not None or settings.redis_url is not None:
        print("(DATABASE_URL or REDIS_URL is set: this configuration uses that service instead)")
    return 0


def running_keeper(data_dir: Path) -> KeptServices | None:
    """The keeper published in `data_dir`, if its process still runs."""
    try:
        published = json.loads((data_dir / "services.json").read_text())
        kept = KeptServices(**published)
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return kept if process_alive(kept.pid) else None


def keep() -> int:
    """The keeper's main: start both services, publish them, hold them until SIGTERM/SIGINT."""
    settings = load_settings()
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    resolved = resolve_services(settings)
    published = settings.data_dir.resolve() / "services.json"
    _publish(published, resolved)
    try:
        while not stop_requested:
            signal.pause()
    finally:
        published.unlink(missing_ok=True)
    return 0  # exiting releases both services: the last user stops them


def _launch_keeper(data_dir: Path) -> KeptServices:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "services.log").open("ab")
    environment = {**os.environ, "DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.services", "keep"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # Ctrl-C in this terminal must not stop it
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        kept = running_keeper(data_dir)
        if kept is not None and kept.pid == process.pid:
            return kept
        if process.poll() is not None:
            raise StartupError(
                f"the embedded services did not start (exit {process.returncode}); "
                f"see {data_dir / 'services.log'}"
            )
        time.sleep(0.1)
    process.terminate()
    raise StartupError(f"the embedded services did not start in time; see {data_dir}/services.log")


def _publish(path: Path, settings: Settings) -> None:
    assert settings.database_url is not None and settings.redis_url is not None
    kept = {
        "pid": os.getpid(),
        "database_url": settings.database_url.get_secret_value(),
        "redis_url": settings.redis_url.get_secret_value(),
    }
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(kept))
    partial.replace(path)


def _pids(pids: list[int]) -> str:
    return ("process " if len(pids) == 1 else "processes ") + ", ".join(map(str, pids))


if __name__ == "__main__" and sys.argv[1:] == ["keep"]:
    sys.exit(keep())
