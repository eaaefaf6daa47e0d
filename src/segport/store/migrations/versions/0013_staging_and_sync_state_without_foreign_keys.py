"""sync_state.export_id and run_sent.run_id without foreign keys: the export's sync state and a run's staged
members are deleted explicitly with their export (exports.service.remove_export), in the same transaction

Why: PostgreSQL checks a foreign key row by row, locking the parent row for each; on the 1M export those checks
were 40 % of every batch's write into the sync state, and the PostgreSQL store's run took 1.27-1.35x SQLite's.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

HELD_BACK = sa.text("outcome != 'added'")


def upgrade() -> None:
    _drop_indexes()
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_constraint("fk_sync_state_export_id_exports", type_="foreignkey")
    with op.batch_alter_table("run_sent") as batch:
        batch.drop_constraint("fk_run_sent_run_id_runs", type_="foreignkey")
    _create_indexes()


def downgrade() -> None:
    # Rows left by a removed export or run would fail the constraints older segports expect.
    op.execute("DELETE FROM sync_state WHERE export_id NOT IN (SELECT id FROM exports)")
    op.execute("DELETE FROM run_sent WHERE run_id NOT IN (SELECT id FROM runs)")
    _drop_indexes()
    with op.batch_alter_table("sync_state") as batch:
        batch.create_foreign_key(
            "fk_sync_state_export_id_exports", "exports", ["export_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("run_sent") as batch:
        batch.create_foreign_key("fk_run_sent_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE")
    _create_indexes()


def _drop_indexes() -> None:
    if not _rebuilds():
        return
    op.drop_index("ix_sync_state_held_back", table_name="sync_state")
    op.drop_index("ix_sync_state_export_email", table_name="sync_state")
    op.drop_index("ix_run_sent_run_batch", table_name="run_sent")


def _create_indexes() -> None:
    if not _rebuilds():
        return
    op.create_index("ix_sync_state_export_email", "sync_state", ["export_id", "email"])
    op.create_index(
        "ix_sync_state_held_back", "sync_state", ["export_id"], sqlite_where=HELD_BACK, postgresql_where=HELD_BACK
    )
    op.create_index("ix_run_sent_run_batch", "run_sent", ["run_id", "batch_number"])


def _rebuilds() -> bool:
    """SQLite changes a constraint by rebuilding the table (store.database turns foreign keys off around it);
    its indexes are dropped first and made again after, so the partial one keeps its WHERE clause. PostgreSQL
    alters the constraint in place and keeps them."""
    return op.get_bind().dialect.name == "sqlite"
