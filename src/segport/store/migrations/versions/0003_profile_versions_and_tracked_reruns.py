"""profile versions and tracked reruns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:23:44.318322
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_profile_versions")),
    )
    op.create_table(
        "profile_changes",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["profile_versions.version"],
            name=op.f("fk_profile_changes_version_profile_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version", "profile_key", name=op.f("pk_profile_changes")),
    )
    op.create_table(
        "sync_skipped",
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("profile_key", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name=op.f("fk_sync_skipped_export_id_exports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("export_id", "profile_key", name=op.f("pk_sync_skipped")),
    )
    with op.batch_alter_table("sync_skipped", schema=None) as batch_op:
        batch_op.create_index("ix_sync_skipped_export_email", ["export_id", "email"], unique=False)

    op.create_index(
        "ix_sync_state_unsubscribed",
        "sync_state",
        ["export_id"],
        sqlite_where=sa.text("outcome = 'unsubscribed'"),
        postgresql_where=sa.text("outcome = 'unsubscribed'"),
    )

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("synced_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("synced_fingerprint", sa.String(length=64), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profiles_from", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("profiles_to", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("profiles_to")
        batch_op.drop_column("profiles_from")

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_column("synced_fingerprint")
        batch_op.drop_column("synced_version")

    with op.batch_alter_table("sync_skipped", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_skipped_export_email")

    op.drop_table("sync_skipped")
    op.drop_index("ix_sync_state_unsubscribed", table_name="sync_state")
    op.drop_table("profile_changes")
    op.drop_table("profile_versions")
