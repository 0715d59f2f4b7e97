"""Find a workspace's documents by content, so an identical upload is answered with the
document it already became.

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_documents_workspace_id_content_sha256", "documents", ["workspace_id", "content_sha256"]
    )


def downgrade() -> None:
    op.drop_index("ix_documents_workspace_id_content_sha256", table_name="documents")
