"""passwords, web sessions and sign-ins that wait for the wizard's Save

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
    with op.batch_alter_table("sign_ins") as batch:
        batch.add_column(sa.Column("session_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("tokens_sealed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account_id", sa.Text(), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notices", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("sign_ins") as batch:
        for column in ("account_id", "account_name", "tokens_sealed", "session_digest"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
