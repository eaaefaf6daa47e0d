"""exports.opt_outs_read_at: the account's time when the export's last complete run read who unsubscribed

Why: every run read every unsubscribed address of the account through a contact export activity (a POST, its
polls and a download: 3 or 4 of Constant Contact's requests, one of them a write). A rerun needs only the
opt-outs since the last read, which `GET /contacts?status=unsubscribed&optout_after=` answers in one request
per 500. NULL: no read yet, or the export's list or connection changed since; the next run reads them all.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("opt_outs_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("opt_outs_read_at")
