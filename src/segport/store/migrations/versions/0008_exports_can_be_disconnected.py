"""exports can be disconnected from their connection (kept, not run, until they get another)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite this rebuilds the exports table; store.database.upgrade turns foreign keys off around it, or
    # dropping the old table would cascade into every run, batch and sync row of every export.
    with op.batch_alter_table("exports") as batch:
        batch.alter_column("connection_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    disconnected = op.get_bind().execute(sa.text("SELECT count(*) FROM exports WHERE connection_id IS NULL")).scalar()
    if disconnected:
        raise RuntimeError(f"{disconnected} exports have no connection; give each one a connection first.")
    with op.batch_alter_table("exports") as batch:
        batch.alter_column("connection_id", existing_type=sa.Integer(), nullable=False)
