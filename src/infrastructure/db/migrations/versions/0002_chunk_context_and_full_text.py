"""Chunks remember the context line embedded with them, are cached by the hash of what was
embedded, and carry a generated full-text vector with a GIN index for text and hybrid search.

Existing chunks were embedded from their content alone: their context is empty and their
embedded-text hash is their content hash.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from infrastructure.db.full_text import tsvector_expression
from infrastructure.db.migrations.language import configured_language

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "chunks", sa.Column("context", sa.Text(), nullable=False, server_default=sa.text("''"))
    )
    op.add_column("chunks", sa.Column("embedded_sha256", sa.Text()))
    op.execute("UPDATE chunks SET embedded_sha256 = content_sha256")
    op.alter_column("chunks", "embedded_sha256", nullable=False)
    op.create_index(
        "ix_chunks_workspace_id_embedded_sha256", "chunks", ["workspace_id", "embedded_sha256"]
    )
    op.drop_index("ix_chunks_workspace_id_content_sha256", table_name="chunks")
    expression = tsvector_expression(configured_language())
    op.add_column(
        "chunks",
        sa.Column(
            "content_tsv",
            postgresql.TSVECTOR(),
            sa.Computed(sa.text(expression), persisted=True),
        ),
    )
    op.create_index("ix_chunks_content_tsv", "chunks", ["content_tsv"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_chunks_content_tsv", table_name="chunks")
    op.drop_column("chunks", "content_tsv")
    op.create_index(
        "ix_chunks_workspace_id_content_sha256", "chunks", ["workspace_id", "content_sha256"]
    )
    op.drop_index("ix_chunks_workspace_id_embedded_sha256", table_name="chunks")
    op.drop_column("chunks", "embedded_sha256")
    op.drop_column("chunks", "context")
