"""sync state and mirror mode

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:16:06.604045
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("profile_key", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("raw_email", sa.Text(), nullable=True),
        sa.Column("raw_first_name", sa.Text(), nullable=True),
        sa.Column("raw_last_name", sa.Text(), nullable=True),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("added_by_export", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name=op.f("fk_sync_state_export_id_exports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("export_id", "profile_key", name=op.f("pk_sync_state")),
    )
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.create_index("ix_sync_state_export_email", ["export_id", "email"], unique=False)

    op.create_table(
        "run_sent",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("batch_number", sa.Integer(), nullable=False),
        sa.Column("profile_key", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("raw_email", sa.Text(), nullable=True),
        sa.Column("raw_first_name", sa.Text(), nullable=True),
        sa.Column("raw_last_name", sa.Text(), nullable=True),
        sa.Column("on_list_before", sa.Boolean(), nullable=False),
        sa.Column("replaced_email", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_sent_run_id_runs"), ondelete="CASCADE"),
    )

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=10), server_default="add", nullable=False))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=10), server_default="add", nullable=False))
        batch_op.add_column(sa.Column("full", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("phase", sa.String(length=20), server_default="sending", nullable=False))
        batch_op.add_column(sa.Column("added", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("updated", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("unchanged", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("removed", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("removed")
        batch_op.drop_column("unchanged")
        batch_op.drop_column("updated")
        batch_op.drop_column("added")
        batch_op.drop_column("phase")
        batch_op.drop_column("full")
        batch_op.drop_column("mode")

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_column("mode")

    op.drop_table("run_sent")
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_state_export_email")

    op.drop_table("sync_state")
