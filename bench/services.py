"""Postgres and Redis for one run: given by URL, or started here (embedded Postgres and Redis).

Every run gets a fresh database on the server, migrated to head, and dropped at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from sqlalchemy import make_url

from bench.paths import OUT, shown


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str

    def plain_dsn(self) -> str:
        """The database URL as libpq takes it (no SQLAlchemy driver name)."""
        return _libpq(self.database_url)


@contextmanager
def running_services(
    database_url: str | None, redis_url: str | None, dimension: int
) -> Iterator[Services]:
    """Servers for the run, with a fresh migrated database; everything started here stops after."""
    from infrastructure.db import migrations

    with (
        _postgres(database_url) as server_url,
        _redis(redis_url) as redis,
        _fresh_database(server_url) as url,
    ):
        migrations.upgrade(url, dimension)
        yield Services(url, redis)


@contextmanager
def _postgres(database_url: str | None) -> Iterator[str]:
    if database_url:
        yield database_url
        return
    from infrastructure.local.postgres import start_embedded_postgres

    print("starting the embedded Postgres in", shown(OUT / "postgres"), flush=True)
    yield start_embedded_postgres(OUT / "postgres")


@contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    name = f"bench_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(database_url: str, name: str) -> str:
    """Another empty database on the same server; returns its URL."""
    _admin(database_url, f'CREATE DATABASE "{name}"')
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str, name: str) -> None:
    _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute(statement)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _redis(redis_url: str | None) -> Iterator[str]:
    if redis_url:
        yield redis_url
        return
    from infrastructure.local.redis import RedisServer

    server = RedisServer(OUT / "redis", keep_data=False)
    print(f"starting redis-server on 127.0.0.1:{server.port}", flush=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
