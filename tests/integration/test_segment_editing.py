"""Editing a segment's rule: members change, loops are refused, exports notice (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from segport import audit
from segport.errors import Refused
from segport.segments.service import count_segment, create_segment, edit_segment, show_segment
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
