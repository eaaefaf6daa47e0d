"""alerts by email, chat webhook (Slack's format) or JSON webhook, per connection or per export; and the list
of every alert sent or tried

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("connection_id", sa.Integer(), sa.ForeignKey("connections.id", ondelete="CASCADE")),
        sa.Column("export_id", sa.Integer(), sa.ForeignKey("exports.id", ondelete="CASCADE")),
        sa.Column("target_sealed", sa.Text(), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.Column("runs", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('email', 'chat', 'webhook')", name="kind"),
        sa.CheckConstraint("runs IN ('problems', 'every')", name="runs"),
        sa.CheckConstraint("(connection_id IS NULL) <> (export_id IS NULL)", name="one_scope"),
    )
    op.create_table(
        "alerts_sent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel_id", sa.Integer(), sa.ForeignKey("alert_channels.id", ondelete="SET NULL")),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alerts_sent_at", "alerts_sent", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_sent_at", table_name="alerts_sent")
    op.drop_table("alerts_sent")
    op.drop_table("alert_channels")
