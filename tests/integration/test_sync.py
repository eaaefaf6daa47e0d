"""Incremental sync, mirror mode, the mass-removal guard and dry runs, walked run by run (SQLite, PostgreSQL).

After every run the emulator's list is checked exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from segport.exports import launch
from segport.exports import service as exports
from segport.exports.dry_run import PlannedRow, dry_run
from segport.exports.mirror import needs_mass_removal_approval
from segport.profiles.importer import import_profiles
from segport.runs.history import iter_rows_not_sent, show_run
from segport.segments.service import create_segment
from tests.conftest import STRICTNESS
from tests.support.app import App
from tests.support.exporting import rows_counted

Row = tuple[str, str, str, str]  # key, email, first name, segment ("in" or "out")


class Walk:
    """One export over a small, hand-written profile table that each step rewrites."""

    def __init__(
        self, app: App, directory: Path, mode: str, rows: list[Row], name: str = "E", segment: str = "In"
    ) -> None:
        self.app = app
        self.directory = directory
        self.rows = {row[0]: row for row in rows}
        self.load()
        if segment == "In":
            create_segment(app.store, name="In", rule_text='status = "in"', actor="t")
        self.list_id = getattr(app, "shared_list", None) or app.emulator.create_list(f"List {name}")
        self.name = name
        exports.add_export(
            app.store,
            app.settings,
            name=name,
            connection="CC",
            list_id=self.list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=[segment],
            actor="t",
            mode=mode,
            http=app.http,
        )

    def load(self) -> None:
        path = self.directory / "profiles.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["key", "email", "first_name", "status"])
            writer.writerows(sorted(self.rows.values()))
        import_profiles(self.app.store, path, key="key", actor="t")

    def change(
        self, key: str, *, email: str | None = None, first: str | None = None, status: str | None = None
    ) -> None:
        old = self.rows[key]
        self.rows[key] = (
            key,
            email if email is not None else old[1],
            first if first is not None else old[2],
            status if status is not None else old[3],
        )
        self.load()

    def run(self, **options: object) -> dict[str, int]:
        # These lists are tiny: any removal is a large share of them. The guard has its own test.
        options.setdefault("allow_mass_removal", True)
        run_id = launch.run_export(
            self.app.store, self.app.settings, name=self.name, actor="t", http=self.app.http, **options
        )  # type: ignore[arg-type]
        view = rows_counted(self.app.store, show_run(self.app.store, run_id=run_id))
        assert view.status in ("Successful", "Failure"), view.message
        self.last = view
        return view.counts

    def listed(self) -> set[str]:
        return set(self.app.emulator.members(self.list_id))

    def imports(self) -> int:
        return self.app.emulator.request_count("bulkImportContactsJSON", 201)

    def reasons(self) -> dict[str, str]:
        return {key: reason for key, _, reason, _ in iter_rows_not_sent(self.app.store, run_id=self.last.id)}


START: list[Row] = [
    ("k1", "one@x.io", "One", "in"),
    ("k2", "two@x.io", "Two", "in"),
    ("k3", "three@x.io", "Three", "in"),
    ("k4", "bad-address", "Four", "in"),
    ("k5", "five@x.io", "Five", "out"),
]


@pytest.fixture
def connected(app: App) -> App:
    app.connect("CC")
    return app


@STRICTNESS
@pytest.mark.parametrize("mode", ["add", "mirror"])
def test_an_export_walked_through_joins_leaves_changes_and_unsubscribes(
    connected: App, tmp_path: Path, mode: str
) -> None:
    walk = Walk(connected, tmp_path, mode, START)
    counts = walk.run()
    assert (counts["added"], counts["updated"], counts["invalid_email"]) == (3, 0, 1)
    assert walk.listed() == {"one@x.io", "two@x.io", "three@x.io"}

    # Nothing changed: nothing is sent, not even an import request.
    before = walk.imports()
    counts = walk.run()
    assert (counts["sent"], counts["unchanged"], counts["invalid_email"]) == (0, 3, 1)
    assert walk.imports() == before
    assert walk.listed() == {"one@x.io", "two@x.io", "three@x.io"}

    # k2 leaves the segment, k5 joins.
    walk.change("k2", status="out")
    walk.change("k5", status="in")
    counts = walk.run()
    assert (counts["added"], counts["removed"]) == (1, 1 if mode == "mirror" else 0)
    expected = {"one@x.io", "three@x.io", "five@x.io"} | ({"two@x.io"} if mode == "add" else set())
    assert walk.listed() == expected
    if mode == "mirror":
        assert walk.reasons()["k2"] == "removed"

    # k2 rejoins: in add mode it never left the list; in mirror mode it is sent again.
    walk.change("k2", status="in")
    counts = walk.run()
    assert counts["added"] == (1 if mode == "mirror" else 0)
    assert walk.listed() == {"one@x.io", "two@x.io", "three@x.io", "five@x.io"}

    # k1 changes email: an update of the same member, whose old address leaves the list in mirror mode.
    walk.change("k1", email="One.New@X.io")
    counts = walk.run()
    assert (counts["added"], counts["updated"]) == (0, 1)
    expected = {"one.new@x.io", "two@x.io", "three@x.io", "five@x.io"} | ({"one@x.io"} if mode == "add" else set())
    assert walk.listed() == expected

    # k3 unsubscribes in Constant Contact; its name changes, so it is sent, and refused.
    connected.emulator.unsubscribe("three@x.io")
    walk.change("k3", first="Trois")
    counts = walk.run()
    assert counts["unsubscribed"] == 1
    assert walk.reasons()["k3"] == "unsubscribed"
    assert "three@x.io" not in walk.listed()
    # ...and is not sent again while it stays as it is.
    before = walk.imports()
    counts = walk.run()
    assert counts["sent"] == 0 and walk.imports() == before
    assert walk.reasons()["k3"] == "unsubscribed"

    # k4's invalid email is fixed: now it is sent.
    walk.change("k4", email="four@x.io")
    counts = walk.run()
    assert counts["added"] == 1 and counts["invalid_email"] == 0
    assert "four@x.io" in walk.listed()
    contact = connected.emulator.contact("three@x.io")
    assert contact is not None and contact["email_address"]["permission_to_send"] == "unsubscribed"


def test_a_full_run_sends_everyone_again(connected: App, tmp_path: Path) -> None:
    walk = Walk(connected, tmp_path, "add", START)
    walk.run()
    counts = walk.run(full=True)
    assert (counts["sent"], counts["unchanged"]) == (3, 0)


@STRICTNESS
def test_mirror_never_removes_a_contact_a_person_or_another_export_put_on_the_list(
    connected: App, tmp_path: Path
) -> None:
    list_id = connected.emulator.create_list("Shared")
    connected.emulator.world.add_to_lists(
        connected.emulator.world.upsert("person@x.io", "Per", None, connected.emulator.clock.now()), [list_id]
    )
    connected.emulator.world.add_to_lists(
        connected.emulator.world.upsert("two@x.io", "Two", None, connected.emulator.clock.now()), [list_id]
    )
    connected.shared_list = list_id  # type: ignore[attr-defined]
    mirrored = Walk(connected, tmp_path, "mirror", START, name="Mirror")
    create_segment(connected.store, name="Out", rule_text='status = "out"', actor="t")
    other = Walk(connected, tmp_path, "add", START, name="Other", segment="Out")
    mirrored.run()
    other.run()  # puts five@x.io on the same list
    assert mirrored.listed() == {"person@x.io", "one@x.io", "two@x.io", "three@x.io", "five@x.io"}
    for key in ("k1", "k2", "k3"):
        mirrored.change(key, status="gone")
    counts = mirrored.run(allow_mass_removal=True)
    # one and three were put there by the mirror export; two was on the list before it; five is the other's.
    assert counts["removed"] == 2
    assert mirrored.listed() == {"person@x.io", "two@x.io", "five@x.io"}


def test_a_mass_removal_stops_before_removing_anything_unless_allowed(connected: App, tmp_path: Path) -> None:
    rows = [(f"k{i:02d}", f"m{i}@x.io", "M", "in") for i in range(10)]
    walk = Walk(connected, tmp_path, "mirror", rows)
    walk.run()
    for i in range(3):
        walk.change(f"k{i:02d}", status="out")
    counts = walk.run(allow_mass_removal=False)
    assert walk.last.status == "Failure"
    assert "would remove 3 of the list's 10 contacts (30 %), more than the 20% allowed" in (walk.last.message or "")
    assert needs_mass_removal_approval(walk.last.message)
    assert counts["removed"] == 0 and len(walk.listed()) == 10
    counts = walk.run(allow_mass_removal=True)
    assert walk.last.status == "Successful" and counts["removed"] == 3
    assert walk.listed() == {f"m{i}@x.io" for i in range(3, 10)}


@STRICTNESS
def test_many_leavers_leave_through_a_temporary_list_in_one_removal(connected: App, tmp_path: Path) -> None:
    rows = [(f"k{i:04d}", f"m{i}@x.io", "M", "in") for i in range(1_200)]
    walk = Walk(connected, tmp_path, "mirror", rows)
    walk.run()
    walk.rows = {
        key: (key, email, first, "out" if int(key[1:]) < 600 else "in")
        for key, (_, email, first, _) in walk.rows.items()
    }
    walk.load()
    # Accepted requests: under a loaded machine one may first meet a 429 (retried), which is not a second removal.
    removals = connected.emulator.request_count("postListRemoveContact", 201)
    counts = walk.run(allow_mass_removal=True)
    assert counts["removed"] == 600
    assert connected.emulator.request_count("postListRemoveContact", 201) - removals == 1
    assert connected.emulator.request_count("deleteListActivity", 202) == 1
    assert walk.listed() == {f"m{i}@x.io" for i in range(600, 1_200)}
    assert [item.name for item in connected.emulator.world.lists.values()] == ["List E"]  # the holding list is gone


def test_a_dry_run_says_what_a_run_would_do_and_sends_nothing(connected: App, tmp_path: Path) -> None:
    walk = Walk(connected, tmp_path, "mirror", START)
    walk.run()
    walk.change("k2", status="out")
    walk.change("k5", status="in")
    walk.change("k1", first="Uno")
    requests = connected.emulator.request_count()
    rows: list[PlannedRow] = []
    report = dry_run(connected.store, connected.settings, name="E", on_row=rows.append, http=connected.http)
    assert (report.add, report.update, report.remove, report.unchanged) == (1, 1, 1, 1)
    assert report.skip == {"invalid_email": 1}
    assert {(row.action, row.profile_key) for row in rows} == {
        ("add", "k5"),
        ("update", "k1"),
        ("remove", "k2"),
        ("skip", "k4"),
    }
    assert {action: [row.profile_key for row in found] for action, found in report.samples.items()} == {
        "add": ["k5"],
        "update": ["k1"],
        "remove": ["k2"],
        "skip": ["k4"],
    }
    assert "20%" in report.message  # one of three is more than the share allowed
    assert connected.emulator.request_count() - requests == 1  # only the list's size was read
    assert connected.emulator.request_count("bulkImportContactsJSON", 201) == 1


def test_members_of_a_failed_batch_are_sent_again_by_the_next_run_and_only_they(connected: App, tmp_path: Path) -> None:
    small = connected.reopen(batch_max_contacts=4)
    rows = [(f"k{i:02d}", f"m{i}@x.io", "M", "in") for i in range(10)]
    walk = Walk(small, tmp_path, "add", rows)
    small.emulator.faults.add("activities#2=failed")
    counts = walk.run()
    assert walk.last.status == "Failure"
    failed = [batch for batch in walk.last.batches if batch["state"] == "failed"]
    assert [batch["contacts"] for batch in failed] == [4]
    assert len(walk.listed()) == 6
    counts = walk.run()
    assert walk.last.status == "Successful"
    assert (counts["sent"], counts["unchanged"]) == (4, 6)
    assert walk.listed() == {f"m{i}@x.io" for i in range(10)}
