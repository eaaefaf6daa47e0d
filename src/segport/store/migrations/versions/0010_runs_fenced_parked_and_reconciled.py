"""runs fenced by a lease generation, parked while they wait, with resumable removals and a count of names
cleaned of control characters; batches prepared before they are sent; addresses still to remove; short shared
locks; disconnected exports keep whether their connection was shared

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUSES = "'Queued', 'Processing', 'Successful', 'Skipped', 'Failure', 'Canceled'"
PHASES = "'sending', 'polling', 'removing', 'done'"
WAITS = "'throttled', 'outage', 'quota', 'reauthorization'"
BATCH_STATES = "'prepared', 'initialized', 'processing', 'completed', 'failed', 'cancelled', 'timed_out'"


def upgrade() -> None:
    # On SQLite these rebuild the tables; store.database turns foreign keys off around it (see 0008).
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_generation", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("incremental", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("wait_reason", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("wait_detail", sa.Text(), nullable=True))
        batch.add_column(sa.Column("wait_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("allow_mass_removal", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("list_size_before", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("removal_planned", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("removal_list_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cleaned", sa.BigInteger(), server_default="0", nullable=False))
        batch.create_check_constraint("status", f"status IN ({STATUSES})")
        batch.create_check_constraint("phase", f"phase IN ({PHASES})")
        batch.create_check_constraint("wait_reason", f"wait_reason IN ({WAITS})")
    with op.batch_alter_table("run_batches") as batch:
        batch.alter_column("activity_id", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("accepted_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.add_column(sa.Column("refused", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("error_messages", sa.Text(), nullable=True))
        batch.create_check_constraint("state", f"state IN ({BATCH_STATES})")
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("contributors_allowed", sa.Boolean(), nullable=True))
    # Exports disconnected before this version keep no record of their connection: private, to be safe.
    op.execute("UPDATE exports SET contributors_allowed = false WHERE connection_id IS NULL")
    op.create_index("ix_run_sent_run_batch", "run_sent", ["run_id", "batch_number"])
    # Members held back are unsubscribed or, now, refused: one partial index for both.
    op.drop_index("ix_sync_state_unsubscribed", table_name="sync_state")
    op.create_index(
        "ix_sync_state_held_back",
        "sync_state",
        ["export_id"],
        sqlite_where=sa.text("outcome != 'added'"),
        postgresql_where=sa.text("outcome != 'added'"),
    )
    with op.batch_alter_table("refreshes") as batch:
        batch.add_column(sa.Column("lease_generation", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "pending_removals",
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("profile_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"], ["exports.id"], name=op.f("fk_pending_removals_export_id_exports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("export_id", "email", name=op.f("pk_pending_removals")),
    )
    op.create_table(
        "locks",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_locks")),
    )


def downgrade() -> None:
    prepared = op.get_bind().execute(sa.text("SELECT count(*) FROM run_batches WHERE activity_id IS NULL")).scalar()
    if prepared:
        # An older segport cannot read a batch that has no activity yet: drop those (their members are resent).
        op.execute("DELETE FROM run_batches WHERE activity_id IS NULL")
    op.drop_table("locks")
    op.drop_table("pending_removals")
    with op.batch_alter_table("refreshes") as batch:
        batch.drop_column("lease_generation")
    op.drop_index("ix_run_sent_run_batch", table_name="run_sent")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("contributors_allowed")
    op.drop_index("ix_sync_state_held_back", table_name="sync_state")
    op.execute("UPDATE sync_state SET outcome = 'added' WHERE outcome = 'refused'")  # older segports know two
    op.create_index(
        "ix_sync_state_unsubscribed",
        "sync_state",
        ["export_id"],
        sqlite_where=sa.text("outcome = 'unsubscribed'"),
        postgresql_where=sa.text("outcome = 'unsubscribed'"),
    )
    with op.batch_alter_table("run_batches") as batch:
        batch.drop_constraint("state", type_="check")
        batch.drop_column("error_messages")
        batch.drop_column("refused")
        batch.alter_column("accepted_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("activity_id", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("wait_reason", type_="check")
        batch.drop_constraint("phase", type_="check")
        batch.drop_constraint("status", type_="check")
        for column in (
            "cleaned",
            "removal_list_id",
            "removal_planned",
            "list_size_before",
            "allow_mass_removal",
            "wait_until",
            "wait_detail",
            "wait_reason",
            "incremental",
            "lease_generation",
        ):
            batch.drop_column(column)
