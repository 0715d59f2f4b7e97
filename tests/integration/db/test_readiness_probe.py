"""The database readiness probe when Postgres refuses new connections (a role's CONNECTION
LIMIT reached, as when `max_connections` is exhausted) while a pooled one still works.

A forking worker's jobs each run in a fresh work horse, which opens new connections: its probe
opens a new one too, and reports the database unavailable. An inline worker's jobs use the
pool: its probe borrows a pooled connection, which still works, and reports the database
available (see docs/design-decisions.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, make_url, text

from application.errors import DependencyUnavailable
from infrastructure.db import make_engine, ping


@pytest.fixture
def crowded(new_database_url: Callable[[], str]) -> Iterator[Engine]:
    """An engine of a role allowed two connections: one idle in the engine's pool, the other
    held elsewhere, so no new connection can be opened."""
    admin_url = new_database_url()
    role = f"crowded_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(admin_url, autocommit=True)
    admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')
    url = make_url(admin_url).set(username=role).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # the pool keeps this one
    held = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        yield engine
    finally:
        held.close()
        engine.dispose()
        admin.execute(f'DROP ROLE "{role}"')
        admin.close()


def test_a_probe_of_a_new_connection_reports_the_refusal(crowded: Engine) -> None:
    with pytest.raises(DependencyUnavailable):
        ping(crowded, 2.0, new_connection=True)


def test_a_probe_of_a_pooled_connection_reports_what_the_pool_can_do(crowded: Engine) -> None:
    ping(crowded, 2.0)
