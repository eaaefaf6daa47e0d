"""runs.wait_reason may be 'warehouse': a run waits for a profiles' warehouse that does not answer

Why: a warehouse that restarted at night (or dropped the connection mid-read) ended the run Failure at once, and
the list stayed half sent until the next scheduled run; the run now waits for it, as it waits for Constant
Contact, and the page says what it waits for.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

WAITS = "'throttled', 'outage', 'quota', 'reauthorization'"


def upgrade() -> None:
    # On SQLite this rebuilds the table; store.database turns foreign keys off around it (see 0008).
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("wait_reason", type_="check")
        batch.create_check_constraint("wait_reason", f"wait_reason IN ({WAITS}, 'warehouse')")


def downgrade() -> None:
    # A run waiting for the warehouse as the code goes back says so no more; the older code ends it Failure if
    # the warehouse still does not answer when the run is claimed again.
    op.execute(
        "UPDATE runs SET wait_reason = NULL, wait_detail = NULL, wait_until = NULL WHERE wait_reason = 'warehouse'"
    )
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("wait_reason", type_="check")
        batch.create_check_constraint("wait_reason", f"wait_reason IN ({WAITS})")
