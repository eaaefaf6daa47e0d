"""exports map profile fields to more contact properties (job title, phones, addresses, dates, custom fields);
what was sent of them is kept per member, so a change is sent once; runs count the values left out

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_fields",
        sa.Column("export_id", sa.Integer(), sa.ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("target", sa.String(length=64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_field", sa.String(length=255), nullable=False),
        sa.Column("send_empty", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # NULL (every row written before this revision, and exports without mappings): nothing extra was sent.
    op.add_column("sync_state", sa.Column("raw_extra", sa.Text(), nullable=True))
    op.add_column("run_sent", sa.Column("raw_extra", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("left_out", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("left_out")
    with op.batch_alter_table("run_sent") as batch:
        batch.drop_column("raw_extra")
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("raw_extra")
    op.drop_table("export_fields")
