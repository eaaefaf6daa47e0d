"""queue, schedules, leases and shared budgets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:59:18.604861
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_budgets",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("recent", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_api_budgets")),
    )
    op.create_table(
        "refreshes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tick_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refreshes")),
    )
    op.create_table(
        "system_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_schedule")),
    )
    op.create_table(
        "ticks",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ticks")),
    )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_mode", sa.String(length=10), server_default="refresh", nullable=False))
        batch_op.add_column(sa.Column("schedule_spec", sa.Text(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("tick_key", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ux_runs_one_unfinished",
            ["export_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('Queued', 'Processing')"),
            postgresql_where=sa.text("status IN ('Queued', 'Processing')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_runs_one_unfinished",
            sqlite_where=sa.text("status IN ('Queued', 'Processing')"),
            postgresql_where=sa.text("status IN ('Queued', 'Processing')"),
        )
        batch_op.drop_column("tick_key")
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_column("schedule_spec")
        batch_op.drop_column("schedule_mode")

    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("webhook_url")

    op.drop_table("ticks")
    op.drop_table("system_schedule")
    op.drop_table("refreshes")
    op.drop_table("api_budgets")
