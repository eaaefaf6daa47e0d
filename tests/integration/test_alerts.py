"""Alerts where people read them: email through an SMTP server, chat webhooks in Slack's format, JSON webhooks;
per connection or per export; for failures and alerts only, or for every run; with a test send; and every try
listed. And how they fail: a server down, a refused password or address, a webhook that answers 404 or 500,
a private address, no SMTP settings, bad addresses, two scopes at once. A failed alert never fails a run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from segport.alerting import channels
from segport.alerting.delivery import send_test
from segport.errors import InvalidInput, UnknownName, WarehouseUnavailable
from segport.exports import launch
from segport.runs import queue
from segport.runs.history import show_run
from segport.scheduling import worker
from segport.scheduling.refreshes import list_refreshes, refresh_now
from tests.support.app import App
from tests.support.exporting import ExportWorld
from tests.support.receivers import Hook, Inbox, hook_server, smtp_inbox


@pytest.fixture
def hook() -> Iterator[Hook]:
    with hook_server() as found:
        yield found


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture
def alerted(app: App, inbox: Inbox) -> App:
    quick = app.reopen(
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="none",
        smtp_from="segport@example.com",
        webhook_allow_internal=True,  # the receivers run on this machine
        webhook_backoff_seconds=0.01,
    )
    quick.connect("CC")
    return quick


def run(app: App, world: ExportWorld, fault: str | None = None) -> int:
    if fault:
        app.emulator.faults.add(fault)
    # Full: a rerun with nothing changed would send nothing, and meet no fault.
    return launch.run_export(app.store, app.settings, name=world.name, actor="t", http=app.http, full=True)


def test_a_failed_run_is_told_by_email_and_chat_and_a_good_run_is_not(
    alerted: App, tmp_path: Path, hook: Hook, inbox: Inbox
) -> None:
    world = ExportWorld(alerted, tmp_path)
    channels.add_channel(alerted.store, kind="email", target="ops@example.com, Lead@Example.com", actor="t", export="E")
    channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", connection="CC")
    good = run(alerted, world)
    assert show_run(alerted.store, run_id=good).status == "Successful"
    assert inbox.messages == [] and hook.received == []
    failed = run(alerted, world, "imports#2=400")  # the first run sent import 1
    view = show_run(alerted.store, run_id=failed)
    assert view.status == "Failure"
    [mail] = inbox.messages
    assert mail["Subject"] == "segport: E Failure" and mail["To"] == "ops@example.com, Lead@Example.com"
    body = mail.get_payload()
    assert f"Run {failed} of the export 'E' ended Failure." in body and f"/runs/{failed}" in body
    [chat] = hook.received
    assert set(chat) == {"text"} and f"Run {failed} of the export 'E' ended Failure." in chat["text"]
    events = [event["message"] for event in view.events]
    assert any(message.startswith("Alert sent: email to ops@example.com") for message in events)
    assert any(message.startswith("Alert sent: chat to http://127.0.0.1/") for message in events)
    sent = channels.list_sent(alerted.store)
    assert [(item.kind, item.delivered, item.run_id, item.test) for item in sent] == [
        ("chat", True, failed, False),
        ("email", True, failed, False),
    ]


def test_every_run_goes_to_a_channel_that_asks_for_every_run(alerted: App, tmp_path: Path, hook: Hook) -> None:
    world = ExportWorld(alerted, tmp_path)
    channels.add_channel(alerted.store, kind="webhook", target=hook.url, actor="t", export="E", runs="every")
    good = run(alerted, world)
    [summary] = hook.received
    assert (summary["run_id"], summary["status"], summary["export"]) == (good, "Successful", "E")
    assert summary["counts"]["members"] == show_run(alerted.store, run_id=good).counts["members"]  # type: ignore[index]


def test_a_channel_that_stays_down_is_recorded_and_the_run_keeps_its_outcome(
    alerted: App, tmp_path: Path, hook: Hook
) -> None:
    world = ExportWorld(alerted, tmp_path)
    channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", export="E", runs="every")
    hook.answers = [500] * 10
    view = show_run(alerted.store, run_id=run(alerted, world))
    assert view.status == "Successful"
    assert len(hook.received) == alerted.settings.webhook_attempts  # tried again, then given up
    warning = [event for event in view.events if event["message"].startswith("Alert not sent")]
    assert warning and "HTTP 500 (after 4 attempts)" in warning[0]["message"] and warning[0]["level"] == "warning"
    [item] = channels.list_sent(alerted.store)
    assert not item.delivered and item.detail == "HTTP 500 (after 4 attempts)"


def test_a_revoked_chat_webhook_is_not_called_again_and_again(alerted: App, hook: Hook) -> None:
    channel = channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", connection="CC")
    hook.answers = [404]
    assert send_test(alerted.store, alerted.settings, channel.id) == "HTTP 404"
    assert len(hook.received) == 1


def test_a_test_send_reaches_the_channel_and_is_listed_as_a_test(alerted: App, hook: Hook, inbox: Inbox) -> None:
    chat = channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", connection="CC")
    mail = channels.add_channel(alerted.store, kind="email", target="ops@example.com", actor="t", connection="CC")
    assert send_test(alerted.store, alerted.settings, chat.id) is None
    assert send_test(alerted.store, alerted.settings, mail.id) is None
    assert "A test from segport: alerts for the connection CC reach here" in hook.received[0]["text"]
    assert inbox.messages[0]["Subject"] == "segport: a test alert"
    assert all(item.test and item.delivered for item in channels.list_sent(alerted.store))


def test_email_problems_are_named(alerted: App, inbox: Inbox) -> None:
    channel = channels.add_channel(alerted.store, kind="email", target="gone@example.com", actor="t", connection="CC")
    inbox.refuse.add("gone@example.com")
    assert send_test(alerted.store, alerted.settings, channel.id) == "the SMTP server refused gone@example.com"
    down = alerted.reopen(smtp_port=1, webhook_attempts=2)  # nothing listens there
    problem = send_test(down.store, down.settings, channel.id)
    assert problem is not None and "could not be used" in problem and "after 2 attempts" in problem
    assert [item.delivered for item in channels.list_sent(alerted.store)] == [False, False]


def test_the_url_is_sealed_at_rest_and_shown_without_its_secret(alerted: App, hook: Hook) -> None:
    channel = channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", connection="CC")
    assert channel.shown == "http://127.0.0.1/…" and "secret" not in channel.shown
    with alerted.store.read() as db:
        stored = db.exec_driver_sql("SELECT target_sealed FROM alert_channels").scalar_one()
    assert "secret" not in stored and "127.0.0.1" not in stored


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"kind": "email", "target": "not an address", "connection": "CC"}, "'not' is not an email address"),
        ({"kind": "email", "target": " , ", "connection": "CC"}, "No email address"),
        ({"kind": "email", "target": ",".join(f"a{n}@x.io" for n in range(21)), "connection": "CC"}, "at most 20"),
        ({"kind": "chat", "target": "ftp://example.com/x", "connection": "CC"}, "not an http"),
        ({"kind": "pager", "target": "x", "connection": "CC"}, "not a kind of alert"),
        ({"kind": "chat", "target": "https://example.com/h", "connection": "CC", "export": "E"}, "for a connection or"),
        ({"kind": "chat", "target": "https://example.com/h"}, "for a connection or"),
        ({"kind": "chat", "target": "https://example.com/h", "connection": "CC", "runs": "most"}, "not a choice"),
    ],
)
def test_a_channel_that_cannot_work_is_refused_and_nothing_is_saved(
    alerted: App, options: dict[str, str], complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        channels.add_channel(alerted.store, actor="t", **options)  # type: ignore[arg-type]
    assert channels.list_channels(alerted.store) == []


def test_private_addresses_and_email_without_smtp_are_refused(app: App) -> None:
    app.connect("CC")
    with pytest.raises(InvalidInput, match="internal address"):
        channels.add_channel(
            app.store, kind="webhook", target="http://169.254.169.254/latest", actor="t", connection="CC"
        )
    with pytest.raises(InvalidInput, match="need an SMTP server"):
        channels.add_channel(app.store, kind="email", target="ops@example.com", actor="t", connection="CC")
    with pytest.raises(UnknownName, match="no connection 'Nope'"):
        channels.add_channel(app.store, kind="chat", target="https://example.com/h", actor="t", connection="Nope")


def test_removing_a_channel_keeps_the_alerts_it_sent(alerted: App, hook: Hook) -> None:
    channel = channels.add_channel(alerted.store, kind="chat", target=hook.url, actor="t", connection="CC")
    send_test(alerted.store, alerted.settings, channel.id)
    channels.remove_channel(alerted.store, channel.id, actor="t")
    assert channels.list_channels(alerted.store) == []
    [item] = channels.list_sent(alerted.store)
    assert item.channel_id is None and item.delivered
    with pytest.raises(UnknownName, match=f"no alert {channel.id}"):
        send_test(alerted.store, alerted.settings, channel.id)


def test_a_failed_refresh_is_told_to_the_channels_of_the_exports_it_did_not_queue(
    alerted: App, tmp_path: Path, hook: Hook, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = ExportWorld(alerted, tmp_path)  # follows the refresh, as an export does unless it has its own schedule
    channels.add_channel(alerted.store, kind="email", target="ops@example.com", actor="t", export="E")
    channels.add_channel(alerted.store, kind="webhook", target=hook.url, actor="t", connection="CC")
    assert run(alerted, world) > 0 and inbox.messages == [] and hook.received == []

    def column_gone(*_args: object, **_kwargs: object) -> int:
        raise InvalidInput("The profiles' table crm.customers no longer has the column spend (dropped or renamed).")

    monkeypatch.setattr(worker, "count_segment", column_gone)
    refresh_id, _ = refresh_now(alerted.store, actor="t")
    worker.run_refresh(alerted.store, refresh_id)
    [mail] = inbox.messages
    assert mail["Subject"] == "segport: the refresh failed" and mail["To"] == "ops@example.com"
    body = mail.get_payload(decode=True).decode()  # quoted-printable: long lines are wrapped
    assert f"The refresh {refresh_id} ended Failure." in body and "no longer has the column spend" in body
    assert "The exports that follow the refresh were not queued: 'E'." in body
    [call] = hook.received
    assert call["refresh_id"] == refresh_id and call["exports_not_queued"] == ["E"] and call["status"] == "Failure"
    sent = channels.list_sent(alerted.store)[:2]
    assert [(item.kind, item.delivered, item.run_id, item.subject) for item in sent] == [
        ("webhook", True, None, "segport: the refresh failed"),
        ("email", True, None, "segport: the refresh failed"),
    ]


def test_a_refresh_that_finds_the_warehouse_down_queues_the_exports_and_leaves_the_telling_to_their_runs(
    alerted: App, tmp_path: Path, hook: Hook, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ExportWorld(alerted, tmp_path)
    channels.add_channel(alerted.store, kind="webhook", target=hook.url, actor="t", export="E")

    def warehouse_down(*_args: object, **_kwargs: object) -> int:
        raise WarehouseUnavailable("The profiles' warehouse at postgresql://warehouse/crm does not answer (refused).")

    monkeypatch.setattr(worker, "count_segment", warehouse_down)
    refresh_id, _ = refresh_now(alerted.store, actor="t")
    worker.run_refresh(alerted.store, refresh_id)
    [refresh] = [item for item in list_refreshes(alerted.store, limit=1) if item.id == refresh_id]
    assert refresh.status == "Failure" and "1 export queued all the same" in (refresh.message or "")
    assert queue.claim(alerted.store, "w", 60) is not None  # the export's run waits for the warehouse itself
    assert hook.received == [] and inbox.messages == [] and channels.list_sent(alerted.store) == []


def test_a_failed_refresh_with_no_channel_to_tell_sends_nothing_and_still_ends_failure(
    alerted: App, tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    ExportWorld(alerted, tmp_path)
    monkeypatch.setattr(worker, "count_segment", lambda *_args, **_kwargs: 1 / 0)
    refresh_id, _ = refresh_now(alerted.store, actor="t")
    worker.run_refresh(alerted.store, refresh_id)
    [refresh] = [item for item in list_refreshes(alerted.store, limit=1) if item.id == refresh_id]
    assert refresh.status == "Failure" and "ZeroDivisionError" in (refresh.message or "")
    assert hook.received == [] and channels.list_sent(alerted.store) == []
