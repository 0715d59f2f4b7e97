"""How autogenerate compares the live schema with `tables.py` where its defaults cannot."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Column, Connection, MetaData, inspect
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


def index_method_drift(connection: Connection, metadata: MetaData) -> list[str]:
    """Differences in index access method and operator classes, which autogenerate ignores.

    An HNSW index built with the wrong operator class (say `vector_l2_ops` instead of
    `vector_cosine_ops`) or as another kind of index is silently useless to cosine queries.
    """
    differences = []
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        live = {
            ix["name"]: ix.get("dialect_options", {}) for ix in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            wanted = _method(index.dialect_options["postgresql"])
            found = _method_of_reflected(live.get(index.name or "", {}))
            if index.name in live and wanted != found:
                differences.append(f"index {index.name}: expected {wanted}, found {found}")
    return differences


def _method(options: Any) -> tuple[str, dict[str, str]]:
    return (options.get("using") or "btree", dict(options.get("ops") or {}))


def _method_of_reflected(options: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return (options.get("postgresql_using") or "btree", dict(options.get("postgresql_ops") or {}))
