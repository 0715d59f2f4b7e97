"""How autogenerate compares the live schema with `tables.py` where its defaults cannot."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Column
from sqlalchemy.types import TypeEngine


def compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Vectors differ when one is not a vector or their lengths differ; others: Alembic decides."""
    if not isinstance(metadata_type, VECTOR):
        return None
    if not isinstance(inspected_type, VECTOR):
        return True
    return metadata_type.dim != inspected_type.dim

