"""Sending alerts: a finished run's outcome to its export's and its connection's channels, a failed refresh's to
the channels of the exports it did not queue, and test messages.

Each channel is tried a few times with a doubling pause (the webhook settings); one that stays down is
recorded (in the alerts sent, and as a warning on the run) and never changes the run's outcome. Every try
that ended, delivered or not, is a row of `alerts_sent`: the Alerts page lists them.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial

import httpx
from sqlalchemy import insert, select

from segport.alerting.channels import Channel, channels_for_run, show_channel, target_of
from segport.config import Settings
from segport.connections.service import http_session
from segport.errors import InvalidInput
from segport.runs.events import annotate
from segport.runs.history import RunView, show_run
from segport.store import Store
from segport.store.tables import alerts_sent, exports, runs
from segport.webhook_targets import check_target

FINISHED = ("Successful", "Skipped", "Failure", "Canceled")
PROBLEMS = ("Skipped", "Failure")


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # the email's body, and the chat message
    summary: dict[str, object]  # the JSON webhook's body


def run_message(settings: Settings, view: RunView, alerts: list[str]) -> Message:
    link = f"{settings.api_public_url.rstrip('/')}/runs/{view.id}"
    counts = view.counts
    lines = [
        f"Run {view.id} of the export {view.export!r} ended {view.status}.",
        view.message or "",
        *(f"Alert: {alert}" for alert in alerts),
        f"Members {counts['members']:,}; sent {counts['sent']:,} ({counts['added']:,} new, "
        f"{counts['updated']:,} changed); removed {counts['removed']:,}; rows not sent {view.rows_not_sent:,}.",
        f"The run: {link}",
    ]
    subject = f"segport: {view.export} {view.status}" + (" with alerts" if alerts else "")
    summary: dict[str, object] = {
        "run_id": view.id,
        "export": view.export,
        "status": view.status,
        "message": view.message,
        "trigger": view.trigger,
        "triggered_by": view.triggered_by,
        "started_at": view.started_at.isoformat() if view.started_at else None,
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "counts": view.counts,
        "rows_not_sent": view.rows_not_sent,
        "alerts": alerts,
        "url": link,
    }
    return Message(subject, "\n".join(line for line in lines if line), summary)


def test_message(channel: Channel) -> Message:
    text = (
        f"A test from segport: alerts for the {channel.scope} reach here "
        f"({'every finished run' if channel.runs == 'every' else 'failures, skipped runs and alerts'})."
    )
    return Message("segport: a test alert", text, {"test": True, "message": text, "scope": channel.scope})


def alert_run(
    store: Store, settings: Settings, run_id: int, alerts: list[str], http: httpx.Client | None = None
) -> None:
    """Tell the run's export's and connection's channels how it ended, as each channel asks."""
    with store.read() as db:
        export_id, connection_id = db.execute(
            select(exports.c.id, exports.c.connection_id)
            .join(runs, runs.c.export_id == exports.c.id)
            .where(runs.c.id == run_id)
        ).one()
    channels = channels_for_run(store, connection_id, export_id)
    if not channels:
        return  # the common case: the run's summary is not even read
    view = show_run(store, run_id=run_id, with_details=False)
    if view.status not in FINISHED:
        return
    wanted = [
        channel
        for channel in channels
        if channel.runs == "every" or view.status in PROBLEMS or (alerts and view.status == "Successful")
    ]
    if not wanted:
        return
    message = run_message(settings, view, alerts)
    with http_session(settings, http) as session:
        for channel in wanted:
            problem = _deliver(store, settings, session, channel, message, run_id=run_id, test=False)
            if problem is None:
                annotate(store, run_id, f"Alert sent: {channel.kind} to {channel.shown}.")
            else:
                annotate(store, run_id, f"Alert not sent: {channel.kind} to {channel.shown}: {problem}", "warning")


def alert_failed_refresh(
    store: Store, settings: Settings, refresh_id: int, message: str, http: httpx.Client | None = None
) -> None:
    """A refresh that failed queued none of the exports that follow it, so no run of theirs will tell anyone:
    their channels and their connections' are told instead (each channel once), as of a failed run."""
    with store.read() as db:
        following = db.execute(
            select(exports.c.id, exports.c.name, exports.c.connection_id)
            .where(exports.c.schedule_mode == "refresh", exports.c.connection_id.is_not(None))
            .order_by(exports.c.name)
        ).all()
    wanted: dict[int, Channel] = {}
    for export_id, _name, connection_id in following:
        for channel in channels_for_run(store, connection_id, export_id):
            wanted.setdefault(channel.id, channel)
    if not wanted:
        return
    names = [name for _id, name, _connection in following]
    link = f"{settings.api_public_url.rstrip('/')}/runs#refreshes"
    text = "\n".join(
        [
            f"The refresh {refresh_id} ended Failure.",
            message,
            f"The exports that follow the refresh were not queued: {', '.join(repr(name) for name in names)}.",
            f"The refreshes: {link}",
        ]
    )
    summary: dict[str, object] = {
        "refresh_id": refresh_id,
        "status": "Failure",
        "message": message,
        "exports_not_queued": names,
        "url": link,
    }
    alert = Message("segport: the refresh failed", text, summary)
    with http_session(settings, http) as session:
        for channel in wanted.values():
            _deliver(store, settings, session, channel, alert, run_id=None, test=False)


def send_test(store: Store, settings: Settings, channel_id: int, http: httpx.Client | None = None) -> str | None:
    """Send a test message; None when it was delivered, else why not (recorded like any alert)."""
    channel = show_channel(store, channel_id)
    with http_session(settings, http) as session:
        return _deliver(store, settings, session, channel, test_message(channel), run_id=None, test=True)


def _deliver(
    store: Store,
    settings: Settings,
    session: httpx.Client,
    channel: Channel,
    message: Message,
    *,
    run_id: int | None,
    test: bool,
) -> str | None:
    target = target_of(store, channel.id)
    if channel.kind == "email":
        send = partial(send_email, settings, target, message)
    else:
        # Slack's incoming webhooks (and those that copy them: Mattermost, Rocket.Chat...) read "text".
        body: dict[str, object] = {"text": message.text} if channel.kind == "chat" else message.summary
        send = partial(post_json, session, settings, target, body)
    problem = with_retries(send, settings.webhook_attempts, settings.webhook_backoff_seconds)
    with store.begin() as db:
        db.execute(
            insert(alerts_sent).values(
                channel_id=channel.id,
                run_id=run_id,
                kind=channel.kind,
                shown=channel.shown,
                subject=message.subject,
                delivered=problem is None,
                detail=problem,
                test=test,
                sent_at=datetime.now(UTC),
            )
        )
    return problem


class NotDelivered(Exception):
    def __init__(self, problem: str, *, final: bool = False) -> None:
        super().__init__(problem)
        self.final = final  # trying again would not help


def with_retries(send: Callable[[], None], attempts: int, backoff: float) -> str | None:
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            send()
            return None
        except NotDelivered as failure:
            problem = str(failure)
            if failure.final:
                return problem
    return f"{problem} (after {attempts} attempts)"


def post_json(session: httpx.Client, settings: Settings, url: str, body: dict[str, object]) -> None:
    try:  # checked again at each call: a name can come to point elsewhere
        check_target(url, allow_internal=settings.webhook_allow_internal)
    except InvalidInput as refused:
        raise NotDelivered(refused.message, final=True) from None
    try:
        answer = session.post(url, json=body, timeout=10.0)
    except httpx.HTTPError as error:
        raise NotDelivered(f"no answer ({type(error).__name__})") from None
    if answer.status_code >= 300:
        # A 4xx other than 429 is the receiver refusing the call itself (a revoked chat webhook answers 404).
        final = answer.status_code < 500 and answer.status_code != 429
        raise NotDelivered(f"HTTP {answer.status_code}", final=final)


def send_email(settings: Settings, recipients: str, message: Message) -> None:
    if not settings.smtp_host or not settings.smtp_from:
        raise NotDelivered("no SMTP server is set (SEGPORT_SMTP_HOST, SEGPORT_SMTP_FROM)", final=True)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = recipients
    mail["Subject"] = message.subject
    mail.set_content(message.text)
    context = ssl.create_default_context()
    try:
        if settings.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds, context=context
            )
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
        with server:
            if settings.smtp_security == "starttls":
                server.starttls(context=context)
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                server.login(settings.smtp_username, password)
            server.send_message(mail)
    except smtplib.SMTPAuthenticationError:
        raise NotDelivered("the SMTP server refused the user name or password", final=True) from None
    except smtplib.SMTPRecipientsRefused as refused:
        raise NotDelivered(f"the SMTP server refused {', '.join(refused.recipients)}", final=True) from None
    except (smtplib.SMTPException, OSError) as error:
        raise NotDelivered(f"the SMTP server could not be used ({type(error).__name__}: {error})") from None
