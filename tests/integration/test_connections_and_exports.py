"""Connections (consent, sign-in, removal) and exports (validation, edit, duplicate), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from segport import audit
from segport.connections import service as connections
from segport.errors import InvalidInput, ReauthorizationRequired, Refused, UnknownName
from segport.exports import launch
from segport.exports import service as exports
from segport.exports.dry_run import dry_run
from segport.runs import queue
from segport.runs.history import show_run
from segport.scheduling.calendar import make_schedule
from segport.scheduling.scheduler import tick_once
from segport.scheduling.service import export_schedules, run_all, set_export_schedule, set_system_schedule
from segport.segments.service import create_segment, delete_segment
from tests.support.app import App


@pytest.fixture
def ready(app: App, tmp_path: Path) -> App:
    app.load_profiles(tmp_path, 50)
    create_segment(app.store, name="Canada", rule_text='country = "CA"', actor="t")
    create_segment(app.store, name="VIP", rule_text="vip = true", actor="t")
    app.connect("CC")
    return app


def add(app: App, name: str = "E", **overrides: object) -> exports.ExportView:
    values: dict[str, object] = {
        "name": name,
        "connection": "CC",
        "list_id": app.emulator.create_list(f"List for {name}"),
        "email_field": "email",
        "segment_names": ["Canada"],
        "actor": "t",
        "first_name_field": "first_name",
        "last_name_field": "last_name",
        "http": app.http,
    }
    values.update(overrides)
    return exports.add_export(app.store, app.settings, **values)  # type: ignore[arg-type]


def test_a_connection_records_consent_account_and_export_user(ready: App) -> None:
    view = connections.show_connection(ready.store, name="CC")
    assert (view.account_name, view.consent_by, view.export_user) == (
        "Emulated Constant Contact account",
        "tester",
        "tester",
    )
    assert view.token_expires_at is not None
    assert not view.allow_contributors


def test_no_consent_no_connection(app: App) -> None:
    with pytest.raises(InvalidInput, match="privacy and compliance terms were not accepted"):
        connections.add_connection(
            app.store,
            app.settings,
            name="X",
            allow_contributors=False,
            agreed=False,
            actor="t",
            sign_in=app.sign_in,
            http=app.http,
        )
    assert connections.list_connections(app.store) == []
    assert app.emulator.request_count("token") == 0  # nobody was signed in


def test_connection_names_are_unique_and_required(ready: App) -> None:
    with pytest.raises(Refused, match="already exists"):
        ready.connect("CC")
    with pytest.raises(InvalidInput, match="A connection needs a name"):
        ready.connect("  ")


def test_a_connection_in_use_cannot_be_removed_and_removal_deletes_its_tokens(ready: App) -> None:
    add(ready, "Newsletter")
    with pytest.raises(Refused, match="used by the exports: Newsletter"):
        connections.remove_connection(ready.store, name="CC", actor="t")
    exports.remove_export(ready.store, name="Newsletter", actor="t")
    connections.remove_connection(ready.store, name="CC", actor="t")
    from sqlalchemy import text

    with ready.store.engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM connections")).scalar_one() == 0
    with pytest.raises(UnknownName, match="no connection named 'CC'"):
        connections.show_connection(ready.store, name="CC")


def run(app: App, name: str) -> int:
    return launch.run_export(app.store, app.settings, name=name, actor="t", http=app.http)


def test_a_disconnected_export_is_kept_does_not_run_and_runs_again_once_reconnected(ready: App) -> None:
    view = add(ready, "Newsletter")
    first = show_run(ready.store, run_id=run(ready, "Newsletter"))
    assert first.status == "Successful" and first.counts["sent"] > 0
    queued, _ = queue.enqueue(ready.store, view.id, trigger="manual", actor="t")
    with pytest.raises(Refused, match="run in progress"):
        exports.disconnect_exports(ready.store, names=["Newsletter"], actor="ada")
    queue.cancel(ready.store, run_id=queued, actor="t")
    assert exports.disconnect_exports(ready.store, names=["Newsletter"], actor="ada") == ["Newsletter"]
    assert exports.disconnect_exports(ready.store, names=["Newsletter"], actor="ada") == []  # nothing left to do
    connections.remove_connection(ready.store, name="CC", actor="ada")

    kept = exports.show_export(ready.store, name="Newsletter")
    assert (kept.connection, kept.connection_id, kept.segments, kept.list_id) == (None, None, ["Canada"], view.list_id)
    assert kept.last_status == "Canceled"  # its history stays
    with pytest.raises(Refused, match="has no connection"):
        run(ready, "Newsletter")
    with pytest.raises(Refused, match="has no connection"):
        dry_run(ready.store, ready.settings, name="Newsletter", http=ready.http)
    set_system_schedule(ready.store, make_schedule(kind="daily", times=["06:00"]), actor="ada")
    assert run_all(ready.store, actor="ada") == []  # it follows the refresh, but has nothing to run on
    assert not export_schedules(ready.store, name="Newsletter")[0].active
    set_export_schedule(
        ready.store, name="Newsletter", mode="own", actor="t", schedule=make_schedule(kind="cron", cron="* * * * *")
    )
    assert tick_once(ready.store, ready.settings, "test", now=datetime.now(UTC) + timedelta(minutes=2)) == []
    assert [entry.action for entry in audit.entries(ready.store, subject="Newsletter")].count(
        "export.disconnected"
    ) == 1
    with pytest.raises(InvalidInput, match="no connection to check the list ID with"):
        exports.edit_export(ready.store, ready.settings, name="Newsletter", list_id=view.list_id, actor="t")

    ready.connect("Again")  # the same Constant Contact account, so the list and what was sent to it still hold
    exports.edit_export(ready.store, ready.settings, name="Newsletter", connection="Again", actor="t", http=ready.http)
    again = show_run(ready.store, run_id=run(ready, "Newsletter"))
    assert again.status == "Successful", again.message
    assert (again.counts["sent"], again.counts["unchanged"]) == (0, first.counts["sent"])


def test_reauthorize_replaces_tokens_that_stopped_working(ready: App) -> None:
    list_id = ready.emulator.create_list("After reauthorization")
    ready.emulator.authorization.revoke_grants()
    with pytest.raises(ReauthorizationRequired):
        add(ready, "Blocked", list_id=list_id)
    connections.reauthorize_connection(
        ready.store, ready.settings, name="CC", sign_in=ready.sign_in, http=ready.http, actor="t"
    )
    assert add(ready, "Works", list_id=list_id).list_name == "After reauthorization"


def test_an_export_is_saved_with_the_list_name_and_does_not_run(ready: App) -> None:
    view = add(ready, segment_names=["Canada", "VIP"])
    assert view.list_name == "List for E"
    assert view.segments == ["Canada", "VIP"]
    assert view.last_status is None
    assert ready.emulator.request_count("bulkImportContactsJSON") == 0


def test_the_list_shows_each_export_with_its_own_segments_and_latest_run(ready: App) -> None:
    first = add(ready, "A", segment_names=["Canada", "VIP"])
    second = add(ready, "B", segment_names=["VIP"])
    add(ready, "C")
    canceled, _ = queue.enqueue(ready.store, first.id, trigger="manual", actor="t")
    queue.cancel(ready.store, run_id=canceled, actor="t")
    queue.enqueue(ready.store, first.id, trigger="manual", actor="t")  # A's latest: Queued, after a Canceled
    queue.cancel(ready.store, run_id=queue.enqueue(ready.store, second.id, trigger="manual", actor="t")[0], actor="t")
    listed = {view.name: view for view in exports.list_exports(ready.store)}
    assert [(view.segments, view.connection, view.last_status) for view in listed.values()] == [
        (["Canada", "VIP"], "CC", "Queued"),
        (["VIP"], "CC", "Canceled"),
        (["Canada"], "CC", None),
    ]
    assert exports.show_export(ready.store, name="B") == listed["B"]


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"list_id": "list-123"}, InvalidInput, "is not a Constant Contact list ID"),
        ({"list_id": "0ce51e9e-47ee-4a4b-9bd4-6e3a2f1d0c11"}, InvalidInput, "has no list"),
        ({"email_field": "mail"}, InvalidInput, "email field 'mail' is not a profile field"),
        ({"first_name_field": "given"}, InvalidInput, "first name field 'given'"),
        ({"segment_names": ["Nope"]}, UnknownName, "no segment named 'Nope'"),
        ({"segment_names": []}, InvalidInput, "at least one segment"),
        ({"connection": "Other"}, UnknownName, "no connection named 'Other'"),
        ({"name": " "}, InvalidInput, "needs a name"),
    ],
)
def test_bad_export_settings_are_refused_with_the_fix(
    ready: App, overrides: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        add(ready, **overrides)
    if "list ID" in message or "has no list" in message:
        assert "segport lists" in raised.value.hint  # type: ignore[attr-defined]
    assert exports.list_exports(ready.store) == []


def test_edit_duplicate_and_remove(ready: App) -> None:
    add(ready, "Original")
    other_list = ready.emulator.create_list("Other list")
    edited = exports.edit_export(
        ready.store,
        ready.settings,
        actor="t",
        name="Original",
        new_name="Renamed",
        list_id=other_list,
        segment_names=["VIP"],
        clear_last_name=True,
        http=ready.http,
    )
    assert (edited.name, edited.list_name, edited.segments, edited.last_name_field) == (
        "Renamed",
        "Other list",
        ["VIP"],
        None,
    )
    copy = exports.duplicate_export(ready.store, name="Renamed", new_name="Copy", actor="t")
    assert (copy.list_id, copy.segments, copy.email_field) == (edited.list_id, ["VIP"], "email")
    with pytest.raises(Refused, match="already exists"):
        exports.duplicate_export(ready.store, name="Renamed", new_name="Copy", actor="t")
    with pytest.raises(Refused, match="used by the exports: Copy, Renamed"):
        delete_segment(ready.store, name="VIP", actor="t")
    exports.remove_export(ready.store, name="Copy", actor="t")
    assert [view.name for view in exports.list_exports(ready.store)] == ["Renamed"]


def test_an_export_is_not_removed_from_under_a_run_being_queued_for_it(ready: App) -> None:
    if ready.store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite: the removal takes the write lock first, so no run can be queued meanwhile")
    export_id = add(ready).id
    queuing = ready.store.engine.connect()
    transaction = queuing.begin()
    run_id, _ = queue.enqueue_in(queuing, export_id, trigger="manual", actor="t")  # inserted, not committed yet
    outcome: dict[str, str] = {}

    def remove() -> None:
        try:
            exports.remove_export(ready.store, name="E", actor="t")
            outcome["removed"] = "yes"
        except Refused as refused:
            outcome["refused"] = str(refused)

    remover = threading.Thread(target=remove)
    remover.start()
    with ready.store.read() as db:  # the removal waits for the queuing transaction's lock on the export row
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        deadline = time.monotonic() + 10
        while db.execute(waiting).scalar_one() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    transaction.commit()
    queuing.close()
    remover.join(10)
    assert list(outcome) == ["refused"], outcome
    assert f"The export 'E' has a run in progress (run {run_id})." in outcome["refused"]
    assert show_run(ready.store, run_id=run_id).status == "Queued"
    assert [view.name for view in exports.list_exports(ready.store)] == ["E"]


def test_a_run_queued_for_an_export_removed_meanwhile_is_refused_with_the_reason(ready: App) -> None:
    export_id = add(ready).id
    exports.remove_export(ready.store, name="E", actor="t")
    with pytest.raises(UnknownName, match="The export was removed before its run could be queued") as raised:
        queue.enqueue(ready.store, export_id, trigger="manual", actor="t")
    assert raised.value.field == "export" and "removed it meanwhile" in (raised.value.hint or "")


def test_every_client_of_one_api_key_draws_on_one_budget_in_the_database(ready: App) -> None:
    first = connections.budget_for(ready.store, ready.settings, ready.settings.cc_api_base, "key-a")
    assert connections.budget_for(ready.store, ready.settings, ready.settings.cc_api_base, "key-a").key == first.key
    other = connections.budget_for(ready.store, ready.settings, ready.settings.cc_api_base, "key-b")
    assert other.key != first.key
    first.acquire("a")
    first.acquire("b")
    assert first.used_today() == 2 and other.used_today() == 0
    connection_id = connections.show_connection(ready.store, name="CC").id
    one = connections.client_for(ready.store, ready.settings, ready.http, connection_id)
    two = connections.client_for(ready.store, ready.settings, ready.http, connection_id)
    before = two._budget.used_today()  # type: ignore[attr-defined]
    one.account_summary()
    assert two._budget.used_today() == before + 1  # type: ignore[attr-defined]
