"""What a run does with each member and which addresses it takes off the list: pure functions.

The run (engine.py) and the dry run (dry_run.py) both decide through these, so a dry run cannot say something
the run would not do.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from segport.exports.members import Member
from segport.exports.normalize import REASONS, REFUSED, UNSUBSCRIBED

UNSUBSCRIBED_EARLIER = "unsubscribed in Constant Contact; not sent again until the profile changes"
REFUSED_EARLIER = "refused by Constant Contact's import earlier; not sent again until the profile changes"
# What the sync state's outcome says of a member that is not sent again until it changes.
HELD_BACK = {"unsubscribed": (UNSUBSCRIBED, UNSUBSCRIBED_EARLIER), "refused": (REFUSED, REFUSED_EARLIER)}


class Action(enum.StrEnum):
    ADD = "add"  # new to the export: sent
    UPDATE = "update"  # changed since the export last sent it: sent
    SKIP = "skip"  # cannot be sent as it is (invalid or missing email, a duplicate)
    UNCHANGED = "unchanged"  # as the export last sent it: not sent again


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str | None = None  # why a member is skipped, or held back while unchanged (reported as a row)
    detail: str | None = None

    @property
    def sends(self) -> bool:
        return self.action in (Action.ADD, Action.UPDATE)


ADD = Decision(Action.ADD)
UPDATE = Decision(Action.UPDATE)
UNCHANGED = Decision(Action.UNCHANGED)


def decide(member: Member, *, full: bool) -> Decision:
    """Send, skip (and why) or leave unchanged; a full run sends every member that can be sent."""
    if member.problem is not None:
        return Decision(Action.SKIP, member.problem, member.detail or REASONS[member.problem])
    if member.synced is not None and not full and not member.changed:
        held = HELD_BACK.get(member.synced.outcome)
        return UNCHANGED if held is None else Decision(Action.UNCHANGED, *held)
    return ADD if member.synced is None else UPDATE


def replaced_address(member: Member) -> str | None:
    """The address this export put on the list for the member's profile, when the profile's email changed."""
    synced = member.synced
    if synced is not None and synced.added_by_export and synced.outcome == "added" and synced.email != member.email:
        return synced.email
    return None


def on_list_before(member: Member, on_list: Collection[str]) -> bool:
    """Whether the member's contact was on the list before this export first sent it (then it is not ours to
    remove). Known from the sync state when another of the export's profiles had the address."""
    if member.synced is not None:
        return False  # the export sent this profile before; who added the contact was decided then
    if member.prior_added_by_export is not None:
        return not member.prior_added_by_export
    return member.email in on_list


@dataclass(frozen=True, slots=True)
class Leaver:
    """A profile in the export's sync state that is no longer a member of its active segments."""

    key: str
    email: str
    removable: bool  # this export put the contact on the list (and it is there): mirror mode takes it off


@dataclass(frozen=True, slots=True)
class Candidate:
    """An address a mirror run may take off the list."""

    email: str
    profile_key: str
    left: bool  # True: the profile left the segments; False: the profile's email changed


@dataclass(frozen=True, slots=True)
class Removal:
    email: str
    profile_key: str
    detail: str


def removal_candidates(leavers: Sequence[Leaver], pending: Sequence[tuple[str, str]]) -> list[Candidate]:
    """Who left the segments (and was put on the list by this export), then the addresses still pending removal
    (email, profile key) because a profile's email changed."""
    candidates = [Candidate(leaver.email, leaver.key, left=True) for leaver in leavers if leaver.removable]
    return candidates + [Candidate(email, key, left=False) for email, key in pending]


def removals(candidates: Sequence[Candidate], kept: Collection[str]) -> list[Removal]:
    """The addresses to remove: each candidate once, except those a current member still has on the list."""
    chosen: dict[str, Removal] = {}
    for candidate in candidates:
        if candidate.email in kept or candidate.email in chosen:
            continue
        detail = "left the export's segments" if candidate.left else "the profile's email changed"
        chosen[candidate.email] = Removal(candidate.email, candidate.profile_key, detail)
    return list(chosen.values())
