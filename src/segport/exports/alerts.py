"""Alerts on runs that succeeded but look wrong: many rows refused, or a membership that jumped.

Peers alert only when a run fails (peers.md, gaps 6). A run that is Successful yet sent half as many
contacts as the one before usually means a broken rule or a bad profile load, and the marketer should hear
of it before the campaign goes out. Each alert is a warning on the run and goes to the webhooks.
"""

from __future__ import annotations

from sqlalchemy import select

from segport.config import Settings
from segport.runs.events import annotate
from segport.runs.history import show_run
from segport.store import Store
from segport.store.tables import runs

# Below this many members either way a change is noise, whatever its share (3 members becoming 6).
MEMBER_CHANGE_FLOOR = 50


def check_run(store: Store, settings: Settings, run_id: int) -> list[str]:
    """The alerts a finished Successful run raises (each is also recorded as a warning on the run)."""
    view = show_run(store, run_id=run_id, with_details=False)
    if view.status != "Successful":
        return []
    counts = view.counts
    found = []
    refused = counts["invalid_email"] + counts["unusable_key"] + counts["errors"]
    if (
        counts["members"]
        and settings.alert_refused_share
        and refused / counts["members"] > settings.alert_refused_share
    ):
        found.append(
            f"{refused:,} of {counts['members']:,} members ({refused / counts['members']:.0%}) had an invalid email "
            "or an unusable key, or were refused by Constant Contact "
            f"(alert above {settings.alert_refused_share:.0%}). "
            f"The rows not sent say which and why."
        )
    with store.read() as db:
        export_id = db.execute(select(runs.c.export_id).where(runs.c.id == run_id)).scalar_one()
        previous = db.execute(
            select(runs.c.id, runs.c.members)
            .where(runs.c.export_id == export_id, runs.c.status == "Successful", runs.c.id < run_id)
            .order_by(runs.c.id.desc())
            .limit(1)
        ).first()
    share = settings.alert_member_change_share
    if previous is not None and previous.members and share:
        change = counts["members"] - previous.members
        if abs(change) >= MEMBER_CHANGE_FLOOR and abs(change) / previous.members > share:
            found.append(
                f"The export has {counts['members']:,} members, {abs(change) / previous.members:.0%} "
                f"{'more' if change > 0 else 'fewer'} than at run {previous.id} ({previous.members:,}; alert above "
                f"{share:.0%}). Check the segments' rules and the latest profile load."
            )
    for message in found:
        annotate(store, run_id, f"Alert: {message}", "warning")
    return found
