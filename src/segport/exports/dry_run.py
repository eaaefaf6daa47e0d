"""A dry run: what `exports run` would add, update, remove and skip, and why, without sending anything.

It reads the same plan a run reads (the same member query and sync state) and decides every member and every
removal through the same functions the run uses (decisions.py). It asks Constant Contact one thing, as a run
does first: the list, whether it is still there (a run over a deleted list ends Failure) and its size, which the
mass-removal guard needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

import httpx

from segport.config import Settings
from segport.connections.service import client_for, http_session
from segport.exports import decisions, mirror, sync, target_list
from segport.exports.decisions import Action, Candidate
from segport.exports.members import count_members, held_back_unchanged, stream_members
from segport.exports.plan import plan_for
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
    # The first few rows of each action (add, update, remove, skip): what the pages and the API show.
    samples: dict[str, list[PlannedRow]] = field(default_factory=dict)


SAMPLES_PER_ACTION = 10


def dry_run(
    store: Store,
    settings: Settings,
    *,
    name: str,
    full: bool = False,
    on_row: Callable[[PlannedRow], None] | None = None,
    http: httpx.Client | None = None,
) -> DryRun:
    """What a run would do. `on_row` is handed every row as it is decided (the CLI's --show-rows prints them as
    they come: a list of 119,000 rows is never held); the report keeps a few of each action as samples."""
    export = show_export(store, name=name)
    connection_of(export)  # a disconnected export would not run: say so rather than plan a run
    report = DryRun(export.name, export.mode, full)
    with http_session(settings, http) as session:
        size = target_list.size_of(client_for(store, settings, session, connection_of(export)), export)
    if size is None:
        report.message = f"{target_list.gone(export)} A run would end Failure and send nothing. {target_list.GONE_FIX}"
        return report
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
        sample = report.samples.setdefault(row.action, [])
        if len(sample) < SAMPLES_PER_ACTION:
            sample.append(row)
        if on_row is not None:
            on_row(row)

    streamed = 0
    sending: set[str] = set()
    replaced: list[Candidate] = []
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(store, plan.source, plan.query, export)) as members:
        for member in members:
            streamed = member.position
            decision = decisions.decide(member, full=full)
            if decision.action is Action.SKIP:
                assert decision.reason is not None
                report.skip[decision.reason] += 1
                keep(PlannedRow("skip", member.key, member.email, decision.detail or decision.reason))
            elif decision.action is Action.UNCHANGED:
                report.unchanged += 1
                if decision.reason is not None:
                    report.skip[decision.reason] += 1
                    keep(PlannedRow("skip", member.key, member.email, decision.detail or decision.reason))
            else:
                report.add += decision.action is Action.ADD
                report.update += decision.action is Action.UPDATE
                sending.add(member.email)
                keep(PlannedRow(decision.action.value, member.key, member.email))
                address = decisions.replaced_address(member)
                if address is not None:
                    replaced.append(Candidate(address, member.key, left=False))
    if plan.query.joined and plan.incremental:
        report.unchanged = report.members - streamed
        for key, email, outcome in held_back_unchanged(store, plan.source, export, plan.rules):
            reason, detail = decisions.HELD_BACK[outcome]
            report.skip[reason] += 1
            keep(PlannedRow("skip", key, email, detail))
        if plan.scope.tracked:
            with store.read() as db:
                for key, email, reason, detail in db.execute(unchanged_skipped(export.id, plan.scope)):
                    report.unchanged -= 1
                    report.skip[reason] += 1
                    keep(PlannedRow("skip", key, email or "", detail or reason))
    if export.mode == "mirror":
        leaving = mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
        candidates = decisions.removal_candidates(leaving, sync.pending_removal_list(store, export.id)) + replaced
        # A run acknowledges what it sends before it removes: what this one would send is still used then.
        kept = mirror.still_used(store, plan.source, export, plan.rules, [c.email for c in candidates]) | sending
        removing = decisions.removals(candidates, kept)
        report.remove = len(removing)
        for removal in removing:
            keep(PlannedRow("remove", removal.profile_key, removal.email, removal.detail))
        if removing:
            try:
                mirror.check_share(len(removing), size, settings.mirror_max_removal_share, False, export.name)
            except mirror.MassRemoval as refused:
                report.message = f"{refused.message} {refused.hint}"
    return report
