"""The embedded Postgres: a second process attaches to the running server, not a new one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from infrastructure.local.postgres import start_embedded_postgres

ATTACH = """
import json
import sys
from pathlib import Path
import psycopg
from infrastructure.local.postgres import start_embedded_postgres
dsn = start_embedded_postgres(Path(sys.argv[1]))
with psycopg.connect(dsn) as connection:
    row = connection.execute(
        "SELECT pg_postmaster_start_time()::text, current_setting('data_directory')"
    ).fetchone()
print(json.dumps({"dsn": dsn, "server": row}))
"""


def server_identity(dsn: str) -> list[object]:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT pg_postmaster_start_time()::text, current_setting('data_directory')"
        ).fetchone()
    assert row is not None
    return list(row)


def test_a_second_process_attaches_to_the_same_server(embedded_postgres_dir: Path) -> None:
    dsn = start_embedded_postgres(embedded_postgres_dir)

    result = subprocess.run(
        [sys.executable, "-c", ATTACH, str(embedded_postgres_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seen = json.loads(result.stdout)

    assert seen["dsn"] == dsn
    assert seen["server"] == server_identity(dsn)
    assert server_identity(dsn)  # still running after the other process exited
