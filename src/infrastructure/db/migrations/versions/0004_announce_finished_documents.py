"""Announce each document that becomes ready or failed on the `document_finished` channel
(LISTEN/NOTIFY, with its id), so a waiting client learns of it at once instead of polling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

from infrastructure.db.finish_announcements import FINISH_CHANNEL

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION announce_document_finished() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
                RETURN NULL;
            END IF;
            PERFORM pg_notify('{FINISH_CHANNEL}', NEW.id::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER document_finished
        AFTER INSERT OR UPDATE OF status ON documents
        FOR EACH ROW WHEN (NEW.status IN ('ready', 'failed'))
        EXECUTE FUNCTION announce_document_finished()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER document_finished ON documents")
    op.execute("DROP FUNCTION announce_document_finished()")
