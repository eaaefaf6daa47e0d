"""Webhooks: a run that ends Failure or Skipped, or that raised alerts (exports/alerts.py), is reported to
the connection's webhook and the global one.

The summary is JSON (run id, export, status, message, counts, times). Each call is tried a few times with a
doubling pause; a webhook that stays down is recorded as a warning on the run and never fails it.
"""

from __future__ import annotations

import logging
import time

import httpx
from sqlalchemy import select

from segport.config import Settings
from segport.connections.service import http_session
from segport.errors import InvalidInput
from segport.runs.events import annotate
from segport.runs.history import show_run
from segport.store import Store
from segport.store.tables import connections, exports, runs
from segport.webhook_targets import check_target, shown

logger = logging.getLogger(__name__)
NOTIFIED = ("Failure", "Skipped")


def notify_if_needed(
    store: Store, settings: Settings, run_id: int, http: httpx.Client | None = None, alerts: list[str] | None = None
) -> None:
    with store.begin() as db:
        own = db.execute(
            select(connections.c.webhook_url)
            .join(exports, exports.c.connection_id == connections.c.id)
            .join(runs, runs.c.export_id == exports.c.id)
            .where(runs.c.id == run_id)
        ).scalar()
    targets = list(dict.fromkeys(url for url in (own, settings.webhook_url) if url))
    if not targets:
        return  # the common case: no webhook, so the run's summary is not even read
    view = show_run(store, run_id=run_id, with_details=False)
    if view.status not in NOTIFIED and not alerts:
        return
    summary = {
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
        "alerts": alerts or [],
    }
    with http_session(settings, http) as session:
        for url in targets:
            try:  # checked again at each call: a name can come to point elsewhere
                check_target(url, allow_internal=settings.webhook_allow_internal)
            except InvalidInput as refused:
                annotate(store, run_id, f"Webhook {shown(url)} not called: {refused.message}", "warning")
                continue
            outcome = _post(session, url, summary, settings.webhook_attempts, settings.webhook_backoff_seconds)
            level, message = ("info", f"Webhook {shown(url)} notified.") if outcome is None else ("warning", outcome)
            annotate(store, run_id, message, level)


def _post(session: httpx.Client, url: str, summary: dict[str, object], attempts: int, backoff: float) -> str | None:
    """None when delivered; else what went wrong, after every attempt."""
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            answer = session.post(url, json=summary, timeout=10.0)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}"
            continue
        if answer.status_code < 300:
            return None
        problem = f"HTTP {answer.status_code}"
        if answer.status_code < 500 and answer.status_code != 429:
            break  # the webhook refused the call itself: trying again would not help
    logger.warning("Webhook %s failed: %s", shown(url), problem)
    return f"Webhook {shown(url)} could not be notified ({problem}, after {attempt + 1} attempts)."
