"""sign-ins started from the API

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:42:08.795268
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("connection_name", sa.String(length=255), nullable=False),
        sa.Column("allow_contributors", sa.Boolean(), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("verifier_sealed", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("state_digest", name=op.f("pk_sign_ins")),
    )


def downgrade() -> None:
    op.drop_table("sign_ins")
