"""Reruns that read only the profiles changed since the last successful run (SQLite, PostgreSQL).

Profile imports record the keys they change; a rerun under the same rules reads only those. The central test
is differential: one export reruns tracked, a twin export over the same segment is forced to compare every
member, and after every step both lists, counts and not-sent reasons must agree.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select, update

from segport.exports import launch
from segport.exports import service as exports
from segport.profiles import changes
from segport.profiles.importer import import_profiles
from segport.runs.history import iter_rows_not_sent, show_run
from segport.segments.service import create_segment, set_active
from segport.store.tables import exports as exports_table
from segport.store.tables import profile_changes, profile_versions, run_events, runs
from tests.integration.test_sync import Walk
from tests.support.app import App
from tests.support.exporting import rows_counted


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def versions(app: App) -> list[tuple[int, bool, int | None]]:
    with app.store.begin() as db:
        return [tuple(row) for row in db.execute(select(profile_versions).order_by(profile_versions.c.version))]  # type: ignore[misc]


def changed_keys(app: App, version: int) -> set[str]:
    with app.store.begin() as db:
        return set(
            db.execute(select(profile_changes.c.profile_key).where(profile_changes.c.version == version)).scalars()
        )


def test_an_import_records_the_keys_it_added_changed_and_deleted(app: App, tmp_path: Path) -> None:
    header = ["key", "email", "age"]
    same = [[f"s{i}", f"s{i}@x.io", "5"] for i in range(10)]
    before = [["a", "a@x.io", "1"], ["b", "b@x.io", "2"], ["c", "c@x.io", ""], *same]
    import_profiles(app.store, write(tmp_path / "a.csv", header, before), key="key", actor="t")
    # b's age changes, c's empty age stays empty (NULL equals NULL), d is new, a is deleted.
    rows = [["b", "b@x.io", "3"], ["c", "c@x.io", ""], ["d", "d@x.io", "4"], *same]
    import_profiles(app.store, write(tmp_path / "b.csv", header, rows), key="key", actor="t")
    assert [(version, tracked, count) for version, _, tracked, count in versions(app)] == [
        (1, False, None),
        (2, True, 3),
    ]
    assert changed_keys(app, 2) == {"a", "b", "d"}

    # Another column: the rows cannot be compared, so the version is not tracked.
    wider = [[*row, "X"] for row in rows]
    import_profiles(app.store, write(tmp_path / "c.csv", [*header, "city"], wider), key="key", actor="t")
    assert versions(app)[-1][2] is False and changed_keys(app, 3) == set()
    # Most rows changed: comparing everything is as cheap, so nothing is recorded.
    changed = [[*row[:3], "Y"] for row in wider]
    import_profiles(app.store, write(tmp_path / "d.csv", [*header, "city"], changed), key="key", actor="t")
    assert versions(app)[-1][2] is False and versions(app)[-1][3] == len(changed)
    assert changed_keys(app, 4) == set()


def test_only_the_latest_versions_keep_their_changes(app: App, tmp_path: Path) -> None:
    header = ["key", "n"]
    for number in range(changes.KEEP_VERSIONS + 2):
        rows = [[f"k{i}", str(number if i == 0 else 0)] for i in range(4)]
        import_profiles(app.store, write(tmp_path / "p.csv", header, rows), key="key", actor="t")
    tracked = [version for version, _, is_tracked, _ in versions(app) if is_tracked]
    latest = changes.KEEP_VERSIONS + 2
    assert tracked == list(range(latest - changes.KEEP_VERSIONS + 1, latest + 1))
    with app.store.begin() as db:
        assert changes.tracked_between(db, latest - 3, latest)
        assert not changes.tracked_between(db, 1, latest)  # version 2's changes are gone: compare everything
        kept = set(db.execute(select(profile_changes.c.version)).scalars())
    assert min(kept) == latest - changes.KEEP_VERSIONS + 1


class Twin:
    """A second export over the same segment and profiles, forced to compare every member on every run."""

    def __init__(self, app: App, walk: Walk, mode: str) -> None:
        self.app = app
        self.list_id = app.emulator.create_list("Twin list")
        exports.add_export(
            app.store,
            app.settings,
            name="Twin",
            connection="CC",
            list_id=self.list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=["In"],
            actor="t",
            mode=mode,
            http=app.http,
        )

    def run(self) -> tuple[dict[str, int], dict[str, str]]:
        with self.app.store.begin() as db:
            db.execute(update(exports_table).where(exports_table.c.name == "Twin").values(synced_fingerprint=None))
        run_id = launch.run_export(
            self.app.store, self.app.settings, name="Twin", actor="t", http=self.app.http, allow_mass_removal=True
        )
        assert _profiles_from(self.app, run_id) is None
        view = rows_counted(self.app.store, show_run(self.app.store, run_id=run_id))
        assert view.status == "Successful", view.message
        return view.counts, {key: reason for key, _, reason, _ in iter_rows_not_sent(self.app.store, run_id=run_id)}

    def listed(self) -> set[str]:
        return set(self.app.emulator.members(self.list_id))


def _profiles_from(app: App, run_id: int) -> int | None:
    with app.store.begin() as db:
        return db.execute(select(runs.c.profiles_from).where(runs.c.id == run_id)).scalar_one()


def _events(app: App, run_id: int) -> list[str]:
    with app.store.begin() as db:
        return list(db.execute(select(run_events.c.message).where(run_events.c.run_id == run_id)).scalars())


START = [
    ("k1", "one@x.io", "One", "in"),
    ("k2", "two@x.io", "Two", "in"),
    ("k3", "three@x.io", "Three", "in"),
    ("k4", "bad-address", "Four", "in"),
    ("k5", "five@x.io", "Five", "out"),
    ("k6", " ONE@x.io", "Uno", "in"),  # the same address as k1: a duplicate while k1 is a member
    ("k7", "seven@x.io", "Seven", "in"),
    ("k8", "", "Eight", "in"),  # no email at all
]


@pytest.mark.parametrize("mode", ["add", "mirror"])
def test_tracked_reruns_agree_with_comparing_every_member(app: App, tmp_path: Path, mode: str) -> None:
    app.connect("CC")
    walk = Walk(app, tmp_path, mode, START)
    twin = Twin(app, walk, mode)

    def step() -> dict[str, int]:
        counts = walk.run()
        assert walk.last.status == "Successful", walk.last.message
        assert _profiles_from(app, walk.last.id) is not None  # read only the changed profiles
        twin_counts, twin_reasons = twin.run()
        assert walk.listed() == twin.listed()
        assert counts == twin_counts
        assert walk.reasons() == twin_reasons
        return counts

    first = walk.run()  # the first run reads every member
    assert _profiles_from(app, walk.last.id) is None
    assert (first["added"], first["invalid_email"], first["duplicate"]) == (4, 2, 1)
    twin.run()

    counts = step()  # nothing changed: nothing read, nothing sent, the skipped ones still accounted for
    assert (counts["sent"], counts["unchanged"], counts["invalid_email"], counts["duplicate"]) == (0, 4, 2, 1)
    assert walk.reasons() == {"k4": "invalid_email", "k6": "duplicate", "k8": "missing_email"}
    assert any(message.startswith("Read 0 changed profiles") for message in _events(app, walk.last.id))

    walk.change("k1", status="out")  # k6 now holds one@x.io alone: it is sent, and the address stays listed
    counts = step()
    assert "one@x.io" in walk.listed()
    assert counts["duplicate"] == 0

    walk.change("k1", status="in")  # back: in mirror mode it left, so now it is the duplicate of k6
    counts = step()
    # In add mode nothing ever leaves: k1 is back as it was, unchanged.
    assert ("k1" in walk.reasons()) == (mode == "mirror")

    walk.change("k2", status="out")
    walk.change("k5", status="in")
    walk.change("k4", email="four@x.io")
    counts = step()
    assert "four@x.io" in walk.listed() and counts["invalid_email"] == 1
    assert ("two@x.io" in walk.listed()) == (mode == "add")

    walk.change("k3", email="Three.New@x.io")
    app.emulator.unsubscribe("seven@x.io")
    walk.change("k7", first="Sieben")
    counts = step()
    assert counts["unsubscribed"] == 1  # sent because its name changed, and refused
    assert walk.reasons()["k7"] == "unsubscribed"
    assert ("three@x.io" in walk.listed()) == (mode == "add")

    counts = step()  # the refused one is not sent again while it stays as it is, and is still reported
    assert counts["sent"] == 0 and walk.reasons()["k7"] == "unsubscribed"

    del walk.rows["k7"]  # deleted from the profiles: it leaves
    walk.load()
    step()


def test_changed_rules_make_the_next_run_compare_every_member(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    walk = Walk(app, tmp_path, "mirror", START)
    walk.run()
    walk.run()
    assert _profiles_from(app, walk.last.id) is not None
    create_segment(app.store, name="Not two", rule_text='first_name != "Two"', actor="t")
    create_segment(app.store, name="In but two", rule_text='"In" intersect "Not two"', actor="t")
    exports.edit_export(app.store, app.settings, name="E", segment_names=["In but two"], http=app.http, actor="t")
    counts = walk.run()
    assert _profiles_from(app, walk.last.id) is None  # other rules: every member is compared
    assert counts["removed"] == 1 and "two@x.io" not in walk.listed()
    walk.run()
    assert _profiles_from(app, walk.last.id) is not None
    # Deactivating a segment the rules are built on changes them too.
    create_segment(app.store, name="Five", rule_text='first_name = "Five"', actor="t")
    exports.edit_export(
        app.store, app.settings, name="E", segment_names=["In but two", "Five"], http=app.http, actor="t"
    )
    walk.run()
    assert _profiles_from(app, walk.last.id) is None
    walk.run()
    set_active(app.store, name="Five", active=False, actor="t")
    counts = walk.run()
    assert _profiles_from(app, walk.last.id) is None
    assert "five@x.io" not in walk.listed() and counts["removed"] == 1
