"""runs.unusable_key: members skipped because their key is missing or cannot be kept; runs.rows_not_sent

Why: a warehouse row whose key exceeded PostgreSQL's index entry (2,704 bytes), or held a NUL character, failed
the run on a PostgreSQL store, and every later run the same way; a key on two rows failed it on any store; a row
without a key was sent under the key "None". Runs now skip such a member, name it in their rows and count it
here (embedded imports refuse such keys; only a warehouse can hold one).

And the number of a run's rows (not sent, not added, removed), kept as they are added: every runs list and
page counted each run's rows, which for fifty runs of a million-member export with 60,000 such rows each was
about 100 ms of SQLite's time per request. Existing runs are counted once here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("unusable_key", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("rows_not_sent", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE runs SET rows_not_sent = (SELECT count(*) FROM run_rows WHERE run_rows.run_id = runs.id) "
        "WHERE EXISTS (SELECT 1 FROM run_rows WHERE run_rows.run_id = runs.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("rows_not_sent")
        batch.drop_column("unusable_key")
