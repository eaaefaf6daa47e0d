"""Editing, renaming and duplicating segments; downloading every member (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from segport import audit
from segport.csv_text import csv_chunks
from segport.errors import InvalidInput, Refused, UnknownName
from segport.exports import service as exports
from segport.segments.membership import count_history, count_segment, member_rows
from segport.segments.service import create_segment, duplicate_segment, edit_segment, set_active, show_segment
from segport.store.tables import segment_counts
from tests.integration.test_sync import START, Walk
from tests.integration.test_tracked_reruns import _profiles_from
from tests.support.app import App


def test_a_changed_rule_changes_the_members_and_is_audited(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 200)
    create_segment(app.store, name="Canada", rule_text='country = "CA"', actor="t")
    before = count_segment(app.store, name="Canada")
    edited = edit_segment(app.store, name="Canada", rule_text='country = "CA" and orders >= 2', actor="ada")
    assert edited.rule_text == 'country = "CA" and orders >= 2' and edited.member_count is None
    assert 0 < count_segment(app.store, name="Canada") < before
    edit_segment(app.store, name="Canada", description="Repeat Canadian buyers", actor="ada")
    assert show_segment(app.store, name="Canada").description == "Repeat Canadian buyers"
    assert [entry.action for entry in audit.entries(app.store, subject="Canada")][:2] == ["segment.changed"] * 2


def test_a_rule_that_would_make_a_loop_is_refused(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 50)
    create_segment(app.store, name="A", rule_text='country = "CA"', actor="t")
    create_segment(app.store, name="B", rule_text='country = "US"', actor="t")
    create_segment(app.store, name="AB", rule_text='"A" union "B"', actor="t")
    create_segment(app.store, name="ABC", rule_text='"AB" union "B"', actor="t")
    with pytest.raises(Refused, match="loop"):
        edit_segment(app.store, name="A", rule_text='"ABC" union "B"', actor="t")
    with pytest.raises(Refused, match="loop"):
        edit_segment(app.store, name="AB", rule_text='"AB" union "B"', actor="t")
    assert show_segment(app.store, name="A").rule_text == 'country = "CA"'  # nothing was changed
    edit_segment(app.store, name="AB", rule_text='"A" intersect "B"', actor="t")
    assert show_segment(app.store, name="B").used_by_segments == ["AB", "ABC"]


def test_an_export_compares_every_member_after_its_segment_changed(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    walk = Walk(app, tmp_path, "mirror", START)
    walk.run()
    walk.run()
    assert _profiles_from(app, walk.last.id) is not None
    edit_segment(app.store, name="In", rule_text='status = "in" and first_name != "One"', actor="t")
    counts = walk.run()
    assert _profiles_from(app, walk.last.id) is None
    assert counts["removed"] == 1 and "one@x.io" not in walk.listed()


def test_a_segment_is_renamed_unless_another_segment_names_it(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 60)
    create_segment(app.store, name="Canada", rule_text='country = "CA"', actor="t")
    create_segment(app.store, name="US", rule_text='country = "US"', actor="t")
    app.connect("CC")
    app.add_export("E", "CC", ["Canada"])
    renamed = edit_segment(app.store, name="Canada", new_name=" Canadians ", actor="ada")
    assert (renamed.name, renamed.exports) == ("Canadians", ["E"])  # the export holds the segment, not its name
    assert exports.show_export(app.store, name="E").segments == ["Canadians"]
    with pytest.raises(UnknownName):
        show_segment(app.store, name="Canada")
    with pytest.raises(Refused, match="already exists"):
        edit_segment(app.store, name="Canadians", new_name="US", actor="ada")
    with pytest.raises(InvalidInput, match="needs a name"):
        edit_segment(app.store, name="Canadians", new_name="  ", actor="ada")
    create_segment(app.store, name="North America", rule_text='"Canadians" union "US"', actor="t")
    with pytest.raises(Refused, match="the rules of North America name it"):
        edit_segment(app.store, name="Canadians", new_name="Canada", actor="ada")
    assert show_segment(app.store, name="Canadians").name == "Canadians"  # nothing changed


def test_a_duplicate_has_the_same_rule_and_members_and_the_download_has_them_all(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 300)
    create_segment(app.store, name="Canada", rule_text='country = "CA"', actor="t", description="CA only")
    copy = duplicate_segment(app.store, name="Canada", new_name="Canada 2", actor="ada")
    assert (copy.rule_text, copy.description, copy.active) == ('country = "CA"', "CA only", True)
    members = count_segment(app.store, name="Canada")
    assert count_segment(app.store, name="Canada 2") == members > 100  # more than the preview shows
    with pytest.raises(Refused, match="already exists"):
        duplicate_segment(app.store, name="Canada", new_name="Canada 2", actor="ada")
    columns, rows = member_rows(app.store, name="Canada 2")
    listed = list(rows)
    key = columns.index("customer_id")
    assert len(listed) == members and all(row[columns.index("country")] == "CA" for row in listed)
    assert [row[key] for row in listed] == sorted(row[key] for row in listed)
    text = "".join(csv_chunks(columns, iter(listed)))
    assert text.splitlines()[0] == ",".join(columns) and len(text.splitlines()) == members + 1
    set_active(app.store, name="Canada 2", active=False, actor="ada")
    assert list(member_rows(app.store, name="Canada 2")[1]) == []  # inactive: no members


def test_every_count_is_kept_for_the_trend_for_400_days(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 80)
    segment = create_segment(app.store, name="Canada", rule_text='country = "CA"', actor="t")
    first = count_segment(app.store, name="Canada")
    edit_segment(app.store, name="Canada", rule_text='country = "CA" and orders >= 2', actor="t")
    second = count_segment(app.store, name="Canada")
    set_active(app.store, name="Canada", active=False, actor="t")
    assert count_segment(app.store, name="Canada") == 0
    history = count_history(app.store, name="Canada")
    assert [members for _, members in history] == [first, second, 0] and first > second > 0
    assert [moment for moment, _ in history] == sorted(moment for moment, _ in history)
    long_ago = datetime.now(UTC) - timedelta(days=401)
    with app.store.begin() as db:
        db.execute(insert(segment_counts).values(segment_id=segment.id, counted_at=long_ago, members=5))
        db.execute(
            insert(segment_counts).values(segment_id=segment.id, counted_at=long_ago + timedelta(days=380), members=6)
        )
    assert [members for _, members in count_history(app.store, name="Canada", since=history[0][0])] == [
        first,
        second,
        0,
    ]
    count_segment(app.store, name="Canada")  # a new count drops what is older than 400 days
    assert [members for _, members in count_history(app.store, name="Canada")] == [6, first, second, 0, 0]
