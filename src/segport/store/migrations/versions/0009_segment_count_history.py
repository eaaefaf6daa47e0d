"""every count of a segment, for its member-count trend

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_segment_counts_segment_id_segments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_counts")),
    )
    op.create_index("ix_segment_counts_segment_counted", "segment_counts", ["segment_id", "counted_at"])
    # The counts segments hold now start each trend.
    op.execute(
        "INSERT INTO segment_counts (segment_id, counted_at, members) "
        "SELECT id, counted_at, member_count FROM segments WHERE counted_at IS NOT NULL AND member_count IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_segment_counts_segment_counted", table_name="segment_counts")
    op.drop_table("segment_counts")
