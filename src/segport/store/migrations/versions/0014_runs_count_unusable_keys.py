"""runs.unusable_key: members skipped because their key is missing or cannot be kept

Why: a warehouse row whose key exceeded PostgreSQL's index entry (2,704 bytes), or held a NUL character, failed
the run on a PostgreSQL store, and every later run the same way; a row without a key was sent under the key
"None". Runs now skip such a member, name it in their rows and count it here (embedded imports refuse such
keys; only a warehouse can hold one).

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


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("unusable_key")
