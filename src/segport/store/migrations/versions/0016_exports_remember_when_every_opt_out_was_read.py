"""exports.opt_outs_whole_read_at: the account's time when a complete run last read every unsubscribed address

Why: reruns read only the opt-outs since the last read, less a day. An opt-out Constant Contact records more
than a day late, or dates by another clock, was missed by every later read: the member who unsubscribed was
never marked nor named in a run's report, until its profile changed and an import could not add it. A whole
read once a week bounds that. NULL (every export at this upgrade): the next run reads them all.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("opt_outs_whole_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("opt_outs_whole_read_at")
