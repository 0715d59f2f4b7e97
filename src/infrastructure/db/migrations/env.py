"""Alembic environment: runs online against the connection handed over in `config.attributes`,
or against `-x database_url=...` / `DATABASE_URL` when run from the `alembic` command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from infrastructure.db.engine import sqlalchemy_url
from infrastructure.db.migrations.compare import compare_type
from infrastructure.db.migrations.dimension import configured_dimension
from infrastructure.db.migrations.language import configured_language
from infrastructure.db.tables import schema_metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema_metadata(configured_dimension(), configured_language()),
        compare_type=compare_type,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    arguments = context.get_x_argument(as_dictionary=True)
    url = arguments.get("database_url") or os.environ["DATABASE_URL"]
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.begin() as own_connection:
        run_migrations(own_connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_online()
