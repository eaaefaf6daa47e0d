"""A dry run: what `exports run` would add, update, remove and skip, and why, without sending anything.

It reads the same plan a run reads (the same member query and sync state) and asks Constant Contact only for
the list's size, which the mass-removal guard needs.
"""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field

import httpx

from segport.config import Settings
from segport.connections.service import client_for, http_session
from segport.exports import mirror
from segport.exports.members import count_members, stream_members, unsubscribed_unchanged
from segport.exports.normalize import UNSUBSCRIBED
from segport.exports.runner import UNSUBSCRIBED_EARLIER, plan_for
from segport.exports.scope import unchanged_skipped
from segport.exports.service import connection_of, show_export
from segport.store import Store


@dataclass(frozen=True)
class PlannedRow:
    action: str  # add | update | remove | skip
    profile_key: str
    email: str
    reason: str = ""


@dataclass
class DryRun:
    export: str
    mode: str
    full: bool
    members: int = 0
    add: int = 0
    update: int = 0
    remove: int = 0
    unchanged: int = 0
    skip: Counter[str] = field(default_factory=Counter)
    message: str = ""
    rows: list[PlannedRow] = field(default_factory=list)


def dry_run(
    store: Store,
    settings: Settings,
    *,
    name: str,
    full: bool = False,
    show_rows: bool = False,
    http: httpx.Client | None = None,
) -> DryRun:
    export = show_export(store, name=name)
    connection_of(export)  # a disconnected export would not run: say so rather than plan a run
    report = DryRun(export.name, export.mode, full)
    plan = plan_for(store, export, full=full)
    if plan is None:
        report.message = "None of the export's segments is active: a run would be Skipped."
        return report
    report.members = count_members(store, plan.source, plan.rules)
    if report.members > settings.export_limit:
        report.skip["over_limit"] = report.members
        report.message = (
            f"The segments hold {report.members:,} profiles, over the limit of "
            f"{settings.export_limit:,}: a run would be Skipped and send nothing."
        )
        return report

    def keep(row: PlannedRow) -> None:
        if show_rows:
            report.rows.append(row)

    streamed = 0
    sending: set[str] = set()
    replaced: list[str] = []
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(store, plan.source, plan.query, export)) as members:
        for member in members:
            streamed = member.position
            if member.problem is not None:
                report.skip[member.problem] += 1
                keep(PlannedRow("skip", member.key, member.email, member.detail or member.problem))
            elif not full and not member.changed:
                report.unchanged += 1
                if member.synced is not None and member.synced.outcome == "unsubscribed":
                    report.skip[UNSUBSCRIBED] += 1
                    keep(PlannedRow("skip", member.key, member.email, UNSUBSCRIBED_EARLIER))
            else:
                action = "add" if member.synced is None else "update"
                report.add += action == "add"
                report.update += action == "update"
                sending.add(member.email)
                keep(PlannedRow(action, member.key, member.email))
                if (
                    member.synced is not None
                    and member.synced.added_by_export
                    and member.synced.outcome == "added"
                    and member.synced.email != member.email
                ):
                    replaced.append(member.synced.email)
    if plan.query.joined and plan.incremental:
        report.unchanged = report.members - streamed
        for key, email in unsubscribed_unchanged(store, plan.source, export, plan.rules):
            report.skip[UNSUBSCRIBED] += 1
            keep(PlannedRow("skip", key, email, UNSUBSCRIBED_EARLIER))
        if plan.scope.tracked:
            with store.begin() as db:
                for key, email, reason, detail in db.execute(unchanged_skipped(export.id, plan.scope)):
                    report.unchanged -= 1
                    report.skip[reason] += 1
                    keep(PlannedRow("skip", key, email or "", detail or reason))
    if export.mode == "mirror":
        leaving = [
            leaver
            for leaver in mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
            if leaver.removable
        ]
        candidates = list(dict.fromkeys([leaver.email for leaver in leaving] + replaced))
        kept = mirror.still_used(store, plan.source, export, plan.rules, candidates) | sending
        removing = [email for email in candidates if email not in kept]
        report.remove = len(removing)
        keys = {leaver.email: leaver.key for leaver in leaving}
        for email in removing:
            keep(
                PlannedRow(
                    "remove",
                    keys.get(email, ""),
                    email,
                    "left the export's segments" if email in keys else "the profile's email changed",
                )
            )
        if removing:
            with http_session(settings, http) as session:
                size = client_for(store, settings, session, connection_of(export)).get_list(export.list_id)
            try:
                mirror.check_share(
                    len(removing), size.membership_count or 0, settings.mirror_max_removal_share, False, export.name
                )
            except mirror.MassRemoval as refused:
                report.message = f"{refused.message} {refused.hint}"
    return report
