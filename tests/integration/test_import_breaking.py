"""A profile file that no longer serves what is built on the profiles: a column an active segment's rule or an
export's fields use is missing, or holds another type. Before, such a file loaded quietly and every later run
and refresh of those segments and exports failed; now it is refused, naming each, nothing changed, unless the
import allows it (the CLI's --allow-breaking, the API's and the form's allow_breaking)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segport.errors import InvalidInput
from segport.exports import launch
from segport.exports import service as exports
from segport.exports.mapping import FieldMapping
from segport.profiles.importer import import_profiles
from segport.profiles.service import describe
from segport.runs.history import show_run
from segport.segments.membership import count_segment
from segport.segments.service import create_segment, set_active
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, csrf_token, signed_in

COLUMNS = ["id", "email", "first", "last", "city", "spend"]


def write(path: Path, columns: list[str], spend: str = "20") -> Path:
    values = {"id": "1", "email": "a@example.com", "first": "Ann", "last": "Lee", "city": "Ottawa", "spend": spend}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerow([values[column] for column in columns])
        writer.writerow([values[column].replace("1", "2").replace("a@", "b@") for column in columns])
    return path


@pytest.fixture
def built(app: App, tmp_path: Path) -> App:
    """Profiles with every column; a segment on spend; an export of it using first, last and city."""
    import_profiles(app.store, write(tmp_path / "all.csv", COLUMNS), key="id", actor="t")
    create_segment(app.store, name="Big", rule_text="spend > 5", actor="t")
    create_segment(app.store, name="Everyone", rule_text='email != ""', actor="t")
    app.connect()
    exports.add_export(
        app.store,
        app.settings,
        name="Weekly",
        connection="CC",
        list_id=app.emulator.create_list("Weekly"),
        email_field="email",
        first_name_field="first",
        last_name_field="last",
        segment_names=["Everyone"],
        actor="t",
        fields=[FieldMapping("city", "cf:city")],
        create_custom_fields=True,
        http=app.http,
    )
    return app


def refusal(app: App, path: Path) -> str:
    before = describe(app.store)
    with pytest.raises(InvalidInput) as refused:
        import_profiles(app.store, path, key="id", actor="t")
    after = describe(app.store)
    assert refused.value.field == "allow_breaking"
    assert "Nothing was changed" in str(refused.value) and "allowing that" in (refused.value.hint or "")
    assert (after.fields, after.row_count, after.description) == (before.fields, before.row_count, before.description)
    return str(refused.value)


def test_a_file_without_a_column_a_segment_uses_is_refused_naming_it(built: App, tmp_path: Path) -> None:
    message = refusal(built, write(tmp_path / "no-spend.csv", ["id", "email", "first", "last", "city"]))
    assert "segment 'Big' (uses spend, which the file lacks)" in message
    assert "Everyone" not in message and "Weekly" not in message  # what still fits is not named
    assert count_segment(built.store, name="Big") == 2  # still counts on the profiles kept


def test_a_column_whose_type_changed_under_a_rule_is_refused(built: App, tmp_path: Path) -> None:
    message = refusal(built, write(tmp_path / "text-spend.csv", COLUMNS, spend="about 20"))
    assert "segment 'Big' (spend is now text, was integer)" in message


def test_a_type_change_the_rule_still_fits_goes_through(built: App, tmp_path: Path) -> None:
    imported = import_profiles(built.store, write(tmp_path / "decimal.csv", COLUMNS, spend="20.5"), key="id", actor="t")
    assert {field.name: field.type for field in imported.fields}["spend"] == "number"


def test_each_field_an_export_uses_is_checked(built: App, tmp_path: Path) -> None:
    message = refusal(built, write(tmp_path / "bare.csv", ["id", "email", "spend"]))
    assert (
        "export 'Weekly' (its first name field first is not in the file; its last name field last is not in the "
        "file; its mapped field city is not in the file)" in message
    )
    message = refusal(built, write(tmp_path / "no-email.csv", ["id", "first", "last", "city", "spend"]))
    assert "its email field email is not in the file" in message
    assert "segment 'Everyone' (uses email, which the file lacks)" in message


def test_what_is_broken_already_or_inactive_does_not_hold_an_import_back(built: App, tmp_path: Path) -> None:
    set_active(built.store, name="Big", active=False, actor="t")
    import_profiles(
        built.store, write(tmp_path / "no-spend.csv", ["id", "email", "first", "last", "city"]), key="id", actor="t"
    )
    set_active(built.store, name="Big", active=True, actor="t")  # broken now, by an import that was allowed to
    imported = import_profiles(
        built.store, write(tmp_path / "again.csv", ["id", "email", "first", "last", "city"]), key="id", actor="t"
    )
    assert "spend" not in [field.name for field in imported.fields]


def test_allowed_it_loads_and_the_export_then_fails_saying_why(built: App, tmp_path: Path) -> None:
    path = write(tmp_path / "bare.csv", ["id", "email", "spend"])
    imported = import_profiles(built.store, path, key="id", actor="t", allow_breaking=True)
    assert [field.name for field in imported.fields] == ["id", "email", "spend"]
    run_id = launch.run_export(built.store, built.settings, name="Weekly", actor="t", http=built.http)
    run = show_run(built.store, run_id=run_id)
    assert run.status == "Failure" and "first" in (run.message or "")


@pytest.fixture
def served(built: App) -> Iterator[tuple[str, str]]:
    users.add_user(built.store, name="admin", role="admin", actor="t", password=PASSWORD)
    token = users.issue_token(built.store, name="admin", label="imports", actor="t")[1]
    with serving_app(create_app(built.settings, built.store, built.http)) as base:
        yield base, token


def test_the_api_and_the_form_refuse_it_and_say_how_to_allow_it(
    built: App, served: tuple[str, str], tmp_path: Path
) -> None:
    base, token = served
    content = write(tmp_path / "no-spend.csv", ["id", "email", "first", "last", "city"]).read_bytes()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        refused = api.post("/api/profiles", files={"file": ("no-spend.csv", content)}, data={"key": "id"})
        body = refused.json()
        assert refused.status_code == 422 and "segment 'Big'" in body["detail"] and body["field"] == "allow_breaking"
    with signed_in(base, "admin") as pages:
        form = {"csrf_token": csrf_token(pages, "/profiles"), "key": "id"}
        answer = pages.post("/profiles", data=form, files={"file": ("no-spend.csv", content)})
        assert answer.status_code == 400
        assert "segment &#39;Big&#39;" in answer.text and "Tick &#39;The new file may lack" in answer.text
        assert "spend" in [field.name for field in describe(built.store).fields]
        answer = pages.post(
            "/profiles", data={**form, "allow_breaking": "on"}, files={"file": ("no-spend.csv", content)}
        )
        assert answer.status_code in (200, 303)
    assert "spend" not in [field.name for field in describe(built.store).fields]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        again = api.post(
            "/api/profiles",
            files={"file": ("all.csv", write(tmp_path / "all.csv", COLUMNS).read_bytes())},
            data={"key": "id"},
        )
        assert again.status_code == 200


def test_another_key_is_refused_once_an_export_knows_its_members_by_the_old_one(built: App, tmp_path: Path) -> None:
    path = write(tmp_path / "by-email.csv", COLUMNS)
    imported = import_profiles(built.store, path, key="email", actor="t")  # no export has run: nothing to orphan
    assert imported.key == "email"
    import_profiles(built.store, path, key="id", actor="t")
    run_id = launch.run_export(built.store, built.settings, name="Weekly", actor="t", http=built.http)
    assert show_run(built.store, run_id=run_id).status == "Successful"
    with pytest.raises(InvalidInput) as refused:
        import_profiles(built.store, path, key="email", actor="t")
    assert "export 'Weekly' (knows its members by id: by email every one is new to it)" in str(refused.value)
    assert "Keep id as the key." in (refused.value.hint or "") and "Add those columns" not in (refused.value.hint or "")
    assert describe(built.store).key == "id"
    exports.edit_export(built.store, built.settings, name="Weekly", mode="mirror", actor="t", http=built.http)
    with pytest.raises(InvalidInput) as refused:
        import_profiles(built.store, path, key="email", actor="t")
    assert "and its mirror runs would see every member it sent as leaving)" in str(refused.value)
    assert import_profiles(built.store, path, key="email", actor="t", allow_breaking=True).key == "email"


def test_both_faces_take_a_tab_separated_upload_and_name_a_workbook(
    built: App, served: tuple[str, str], tmp_path: Path
) -> None:
    base, token = served
    rows = ["\t".join(COLUMNS), "\t".join(["1", "a@b.co", "Ann", "Lee", "Paris", "10"])]
    content = ("\n".join(rows) + "\n").encode()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        refused = api.post("/api/profiles", files={"file": ("profiles.xlsx", b"PK\x03\x04")}, data={"key": "id"})
        assert refused.status_code == 422 and "'profiles.xlsx' is not a CSV or Parquet file" in refused.json()["detail"]
        taken = api.post(
            "/api/profiles", files={"file": ("profiles.tsv", content)}, data={"key": "id", "allow_shrink": "true"}
        )
        assert taken.status_code == 200 and taken.json()["fields"] == [field.lower() for field in COLUMNS], taken.text
    with signed_in(base, "admin") as pages:
        form = {"csrf_token": csrf_token(pages, "/profiles"), "key": "id"}
        answer = pages.post("/profiles", data=form, files={"file": ("old.xls", b"\xd0\xcf\x11\xe0")})
        assert answer.status_code == 400 and "&#39;old.xls&#39; is not a CSV or Parquet file" in answer.text
    assert describe(built.store).row_count == 1
