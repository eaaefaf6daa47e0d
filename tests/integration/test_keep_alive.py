"""Idle sign-ins kept alive: Constant Contact expires a refresh token unused for 180 days (the emulator too), so
a connection whose exports run twice a year would need a person to sign in again before each run. The scheduler
renews the tokens of a connection unused for `token_keep_alive_days`, and only those."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from segport.connections import keep_alive
from segport.connections.service import open_tokens, seal_tokens
from segport.emulator.authorization import RefreshGrant
from segport.scheduling import scheduler
from segport.store.tables import audit, connections
from tests.support.app import App

NOW = datetime.now(UTC)


def grant_of(app: App, name: str) -> RefreshGrant:
    """The emulator's sign-in behind the connection's stored refresh token."""
    tokens = open_tokens(app.store, stored(app, name)[0])
    assert tokens.refresh_token is not None
    return app.emulator.authorization.grants[tokens.refresh_token.get_secret_value()]


def stored(app: App, name: str) -> tuple[str, datetime]:
    with app.store.read() as db:
        row = db.execute(
            select(connections.c.tokens_sealed, connections.c.token_expires_at).where(connections.c.name == name)
        ).one()
    expires = row.token_expires_at
    return row.tokens_sealed, expires if expires.tzinfo else expires.replace(tzinfo=UTC)


def unused_for(app: App, name: str, days: int) -> None:
    """Nobody has used the connection for `days`: its access token expired then, its refresh token was last
    spent a day before."""
    grant_of(app, name).last_used = NOW - timedelta(days=days + 1)
    expired = NOW - timedelta(days=days)
    tokens = open_tokens(app.store, stored(app, name)[0]).model_copy(update={"expires_at": expired})
    with app.store.begin() as db:
        db.execute(
            update(connections)
            .where(connections.c.name == name)
            .values(tokens_sealed=seal_tokens(app.store, tokens), token_expires_at=expired)
        )


def audited(app: App, action: str) -> list[str]:
    with app.store.read() as db:
        return list(db.execute(select(audit.c.subject).where(audit.c.action == action)).scalars())


def test_an_idle_connection_is_renewed_before_constant_contact_expires_it(app: App) -> None:
    app.connect("Idle")
    unused_for(app, "Idle", 170)  # ten days from the 180 after which Constant Contact forgets the sign-in
    before = stored(app, "Idle")
    assert keep_alive.renew_idle(app.store, app.settings, http=app.http) == ["Idle"]
    after = stored(app, "Idle")
    assert after[0] != before[0] and after[1] > NOW  # a new pair, sealed and stored
    assert NOW - timedelta(minutes=5) < grant_of(app, "Idle").last_used  # Constant Contact saw it used now
    assert audited(app, "connection.renewed") == ["Idle"]
    tokens = app.emulator.request_count("token")
    assert keep_alive.renew_idle(app.store, app.settings, http=app.http) == []  # renewed: not idle any more
    assert app.emulator.request_count("token") == tokens


def test_a_connection_in_use_is_left_alone(app: App) -> None:
    app.connect("Busy")
    unused_for(app, "Busy", app.settings.token_keep_alive_days - 1)
    tokens, sealed = app.emulator.request_count("token"), stored(app, "Busy")[0]
    assert keep_alive.renew_idle(app.store, app.settings, http=app.http) == []
    assert app.emulator.request_count("token") == tokens and stored(app, "Busy")[0] == sealed


def test_one_signed_out_or_unanswered_connection_does_not_hold_back_the_others(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("Lapsed", "Down", "Fine"):
        app.connect(name)
        unused_for(app, name, 100)
    grant_of(app, "Lapsed").last_used = NOW - timedelta(days=181)  # Constant Contact forgot it already
    app.emulator.faults.clear()  # counted from here: Lapsed's refusal is token request 1, Down's tries 2 and 3
    app.emulator.faults.add("token#2-3=503")
    lapsed, down = stored(app, "Lapsed")[0], stored(app, "Down")[0]
    quick = app.settings.model_copy(update={"retry_base_delay_seconds": 0.01, "retry_max_delay_seconds": 0.02})
    with caplog.at_level(logging.WARNING, logger="segport.connections.keep_alive"):
        assert keep_alive.renew_idle(app.store, quick, http=app.http) == ["Fine"]
    assert "'Lapsed' is signed out and cannot be kept signed in" in caplog.text
    assert "'Down' could not be renewed now" in caplog.text
    assert audited(app, "connection.renewal_refused") == ["Lapsed"] and audited(app, "connection.renewed") == ["Fine"]
    assert stored(app, "Lapsed")[0] == lapsed and stored(app, "Down")[0] == down  # nothing lost: kept as they were
    assert keep_alive.renew_idle(app.store, quick, http=app.http) == ["Down"]  # the next check, answered


def test_the_scheduler_keeps_sign_ins_alive_as_it_ticks(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app.connect("Idle")
    unused_for(app, "Idle", 100)
    renewed = threading.Event()
    real = keep_alive.renew_idle

    def watched(*args: object, **kwargs: object) -> list[str]:
        names = real(*args, http=app.http)  # type: ignore[arg-type]
        if names:
            renewed.set()
        return names

    monkeypatch.setattr(keep_alive, "renew_idle", watched)
    stop = threading.Event()
    ticking = threading.Thread(target=scheduler.run_scheduler, args=(app.store, app.settings, stop, "t"))
    ticking.start()
    try:
        assert renewed.wait(30)
    finally:
        stop.set()
        ticking.join(30)
    assert stored(app, "Idle")[1] > NOW


def test_two_schedulers_renew_an_idle_connection_once_and_it_still_works(app: App) -> None:
    app.connect("Idle")
    unused_for(app, "Idle", 100)
    tokens = app.emulator.request_count("token", status=200)
    start = threading.Barrier(2)
    renewed: list[list[str]] = []

    def scheduler_pass() -> None:
        start.wait()
        renewed.append(keep_alive.renew_idle(app.store, app.settings, http=app.http))

    passes = [threading.Thread(target=scheduler_pass) for _ in range(2)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join(60)
    # One refresh answered (the token endpoint's 1/s may refuse a try, which is retried): a second would have
    # spent the rotating refresh token the first one stored.
    assert app.emulator.request_count("token", status=200) == tokens + 1
    assert ["Idle"] in renewed and len(renewed) == 2  # the second found it renewed, or waited and saw it so
    assert audited(app, "connection.renewal_refused") == []  # the second did not spend the old token
    refresh = open_tokens(app.store, stored(app, "Idle")[0]).refresh_token
    assert refresh is not None and grant_of(app, "Idle").current_token == refresh.get_secret_value()
