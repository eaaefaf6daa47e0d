"""Field mapping: profile fields sent as job title, birthday, anniversary and custom fields, checked in the
emulator's contacts; reruns send only what a changed value or a changed mapping changes; and how it fails:
unknown fields and properties, a missing custom field, the account's 100, values that cannot be sent, a value
that tries to pose as another property, a custom field deleted in the account after saving."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from segport import failpoints
from segport.errors import InvalidInput, Refused
from segport.exports import launch
from segport.exports import service as exports
from segport.exports.mapping import FieldMapping, parse
from segport.profiles.importer import import_profiles
from segport.runs.history import iter_rows_not_sent, show_run
from segport.segments.service import create_segment
from segport.store.tables import sync_state
from tests.support.app import App
from tests.support.crashing import Crash, crash_at
from tests.support.exporting import QUICK

COLUMNS = ["key", "email", "first_name", "title", "tier", "born", "since", "company"]
LONG_TITLE = "T" * 60


def rows() -> dict[str, list[str]]:
    return {
        "k1": ["k1", "one@x.io", "One", "Buyer", "gold", "1990-04-12", "2015-06-01", ""],
        "k2": ["k2", "two@x.io", "Two", LONG_TITLE, "silver", "13", "", ""],  # a month of 13: left out
        "k3": ["k3", "three@x.io", "Three", "", "", "", "not a date", ""],
    }


MAPPING = [
    FieldMapping("title", "job_title"),
    FieldMapping("tier", "cf:tier"),
    FieldMapping("born", "birthday_month"),
    FieldMapping("born", "birthday_day"),
    FieldMapping("since", "anniversary"),
]


class Mapped:
    def __init__(self, app: App, directory: Path) -> None:
        self.app = app
        self.directory = directory
        self.rows = rows()
        self.load()
        create_segment(app.store, name="All", rule_text='email != ""', actor="t")
        self.list_id = app.emulator.create_list("Mapped")

    def load(self) -> None:
        path = self.directory / "profiles.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(self.rows.values())
        import_profiles(self.app.store, path, key="key", actor="t", allow_shrink=True)

    def save(self, fields: list[FieldMapping], *, create: bool = True) -> None:
        exports.add_export(
            self.app.store,
            self.app.settings,
            name="E",
            connection="CC",
            list_id=self.list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=["All"],
            actor="t",
            fields=fields,
            create_custom_fields=create,
            http=self.app.http,
        )

    def edit(self, fields: list[FieldMapping]) -> None:
        exports.edit_export(self.app.store, self.app.settings, name="E", fields=fields, actor="t", http=self.app.http)

    def run(self) -> dict[str, int]:
        run_id = launch.run_export(self.app.store, self.app.settings, name="E", actor="t", http=self.app.http)
        view = show_run(self.app.store, run_id=run_id)
        assert view.status == "Successful", view.message
        return view.counts

    def properties(self, email: str) -> dict[str, Any]:
        contact = self.app.emulator.contact(email)
        assert contact is not None, email
        return dict(contact["properties"])


@pytest.fixture
def mapped(app: App, tmp_path: Path) -> Mapped:
    app.connect("CC")
    return Mapped(app, tmp_path)


def test_mapped_fields_reach_the_contacts_as_their_properties(mapped: Mapped) -> None:
    mapped.save(MAPPING)
    counts = mapped.run()
    assert mapped.properties("one@x.io") == {
        "job_title": "Buyer",
        "cf:tier": "gold",
        "birthday_month": 4,
        "birthday_day": 12,
        "anniversary": "2015-06-01",
    }
    # Cut to the property's 50 characters; the birthday that is not a date (a month of 13) left out, whole.
    assert mapped.properties("two@x.io") == {"job_title": "T" * 50, "cf:tier": "silver"}
    # Empty values are not sent (the contact keeps what it has); an unreadable anniversary is left out.
    assert mapped.properties("three@x.io") == {}
    assert counts["sent"] == 3 and counts["truncated"] == 1 and counts["left_out"] == 2
    assert "tier" in mapped.app.emulator.world.custom_fields  # created on request


def test_a_rerun_sends_only_the_members_whose_mapped_values_changed(mapped: Mapped) -> None:
    mapped.save(MAPPING)
    mapped.run()
    assert mapped.run()["sent"] == 0
    mapped.rows["k1"][3] = "Head buyer"
    mapped.load()
    counts = mapped.run()
    assert counts["sent"] == 1 and counts["unchanged"] == 2
    assert mapped.properties("one@x.io")["job_title"] == "Head buyer"


def test_a_changed_mapping_sends_what_it_changes_then_nothing(mapped: Mapped) -> None:
    mapped.save(MAPPING)
    mapped.run()
    mapped.rows["k3"][7] = "Acme"
    mapped.load()
    mapped.run()  # company is not mapped yet: k3 changed in no sent value
    assert "company_name" not in mapped.properties("three@x.io")
    mapped.edit([*MAPPING, FieldMapping("company", "company_name")])
    counts = mapped.run()
    # Only the member with a company value sends something new; the others send the same values as before.
    assert counts["sent"] == 1
    assert mapped.properties("three@x.io") == {"company_name": "Acme"}
    assert mapped.run()["sent"] == 0


def test_sending_empty_values_clears_the_property(mapped: Mapped) -> None:
    mapped.save(MAPPING)
    mapped.run()
    mapped.edit([FieldMapping("title", "job_title", send_empty=True), *MAPPING[1:]])
    mapped.rows["k1"][3] = ""
    mapped.load()
    mapped.run()
    assert "job_title" not in mapped.properties("one@x.io")
    assert mapped.properties("one@x.io")["cf:tier"] == "gold"


def test_a_value_cannot_pose_as_another_property(mapped: Mapped) -> None:
    mapped.rows["k1"][4] = "gold\x1fjob_title=Owner"
    mapped.load()
    mapped.save([FieldMapping("tier", "cf:tier")])
    mapped.run()
    assert mapped.properties("one@x.io") == {"cf:tier": "gold job_title=Owner"}


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ([FieldMapping("nope", "job_title")], "'nope' .* is not a profile field"),
        ([FieldMapping("title", "favourite_colour")], "not a contact property"),
        ([FieldMapping("title", "email")], "set by the export's email and name fields"),
        ([FieldMapping("born", "birthday_month")], "month only with its day"),
        ([FieldMapping("title", "job_title"), FieldMapping("tier", "job_title")], "mapped twice"),
        ([FieldMapping("title", "cf:bad name!")], "not a custom field name"),
        ([FieldMapping("title", f"cf:f{number}") for number in range(26)], "26 custom fields"),
    ],
)
def test_a_mapping_that_cannot_work_is_refused_and_nothing_is_saved(
    mapped: Mapped, fields: list[FieldMapping], complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        mapped.save(fields)
    assert exports.list_exports(mapped.app.store) == []


def test_a_custom_field_the_account_lacks_is_named_and_created_only_on_request(mapped: Mapped) -> None:
    with pytest.raises(InvalidInput, match="no custom field 'tier'") as refused:
        mapped.save([FieldMapping("tier", "cf:tier")], create=False)
    assert refused.value.field == "create_custom_fields" and "--" not in (refused.value.hint or "")
    assert mapped.app.emulator.world.custom_fields == {}
    mapped.save([FieldMapping("tier", "cf:tier")], create=True)
    assert list(mapped.app.emulator.world.custom_fields) == ["tier"]


def test_creating_past_the_accounts_100_custom_fields_is_refused_before_asking(mapped: Mapped) -> None:
    world = mapped.app.emulator.world
    for number in range(99):
        world.create_custom_field(f"existing{number}", "string")
    with pytest.raises(Refused, match="more than 100"):
        mapped.save([FieldMapping("tier", "cf:tier"), FieldMapping("title", "cf:title")])
    assert len(world.custom_fields) == 99


def test_a_custom_field_deleted_in_the_account_after_saving_is_reported_not_lost(mapped: Mapped) -> None:
    mapped.save([FieldMapping("tier", "cf:tier")])
    del mapped.app.emulator.world.custom_fields["tier"]
    run_id = launch.run_export(mapped.app.store, mapped.app.settings, name="E", actor="t", http=mapped.app.http)
    view = show_run(mapped.app.store, run_id=run_id)
    # The service refuses the rows that name it (two members have a tier): they are counted and named.
    assert view.counts["errors"] == 2, view.counts
    refused = {key: detail for key, _, reason, detail in iter_rows_not_sent(mapped.app.store, run_id=run_id)}
    assert set(refused) == {"k1", "k2"}
    assert all("custom field 'tier' does not exist" in (detail or "") for detail in refused.values())
    assert "2 contacts refused" in (view.message or "")


def test_the_cli_spelling_of_a_mapping_is_checked() -> None:
    assert parse("title=job_title") == FieldMapping("title", "job_title")
    assert parse("tier = cf:tier", ["cf:tier"]) == FieldMapping("tier", "cf:tier", send_empty=True)
    for wrong in ("title", "=job_title", "title=", ""):
        with pytest.raises(InvalidInput, match="not a field mapping"):
            parse(wrong)


@pytest.fixture
def batched(app: App, tmp_path: Path) -> Mapped:
    """One member a batch, and failures waited out in milliseconds: each member is its own import."""
    small = app.reopen(batch_max_contacts=1, **QUICK)
    small.connect("CC")
    return Mapped(small, tmp_path)


@pytest.mark.parametrize("point", ["sent", "prepared"])
def test_a_run_that_died_around_an_acceptance_keeps_the_mapped_values_and_sends_nothing_twice_after(
    batched: Mapped, point: str
) -> None:
    batched.save(MAPPING)
    crash_at(point, occurrence=2)
    try:
        with pytest.raises(Crash):
            batched.run()
    finally:
        failpoints.set_action(None)
    batched.run()  # resumes the interrupted run
    assert batched.properties("one@x.io")["cf:tier"] == "gold"
    assert batched.properties("two@x.io") == {"job_title": "T" * 50, "cf:tier": "silver"}
    assert batched.run()["sent"] == 0
    assert recorded(batched) == RECORDED  # every member's mapped values were recorded, the reconciled one's too


def test_an_answer_lost_after_the_import_was_applied_is_settled_with_the_values_it_sent(batched: Mapped) -> None:
    batched.save(MAPPING)
    batched.app.emulator.faults.add("imports#2=drop-after")  # applied by Constant Contact, answer never came
    batched.run()
    assert batched.properties("two@x.io")["cf:tier"] == "silver"
    assert batched.run()["sent"] == 0
    assert recorded(batched) == RECORDED
    batched.rows["k2"][4] = "bronze"
    batched.load()
    assert batched.run()["sent"] == 1
    assert batched.properties("two@x.io")["cf:tier"] == "bronze"


# What the sync state keeps of each member's mapped values (mapping.raw_extra): what a rerun compares with.
RECORDED = {
    "k1": "job_title=Buyer\x1fcf:tier=gold\x1fbirthday_month=1990-04-12\x1fbirthday_day=1990-04-12\x1f"
    "anniversary=2015-06-01\x1f",
    "k2": f"job_title={LONG_TITLE}\x1fcf:tier=silver\x1fbirthday_month=13\x1fbirthday_day=13\x1f",
    "k3": "anniversary=not a date\x1f",  # empty cells are no values: they take no part
}


def recorded(mapped: Mapped) -> dict[str, str | None]:
    with mapped.app.store.read() as db:
        return dict(db.execute(select(sync_state.c.profile_key, sync_state.c.raw_extra)).all())  # type: ignore[arg-type]
