"""Notifications of a run's end: the alert channels of its export and its connection (alerting/), and the raw
JSON webhooks of older set-ups (the connection's webhook and SEGPORT_WEBHOOK_URL), called when a run ends
Failure or Skipped or raised alerts (exports/alerts.py).

A webhook that stays down is recorded as a warning on the run and never fails it.
"""

from __future__ import annotations

import logging
from functools import partial

import httpx
from sqlalchemy import select

from segport.alerting.delivery import alert_run, post_json, run_message, with_retries
from segport.config import Settings
from segport.connections.service import http_session
from segport.runs.events import annotate
from segport.runs.history import show_run
from segport.store import Store
from segport.store.tables import connections, exports, runs
from segport.webhook_targets import shown
from segport.wording import sentence

logger = logging.getLogger(__name__)
NOTIFIED = ("Failure", "Skipped")


def notify_if_needed(
    store: Store, settings: Settings, run_id: int, http: httpx.Client | None = None, alerts: list[str] | None = None
) -> None:
    alert_run(store, settings, run_id, alerts or [], http)
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
    summary = run_message(settings, view, alerts or []).summary
    with http_session(settings, http) as session:
        for url in targets:
            send = partial(post_json, session, settings, url, summary)
            problem = with_retries(send, settings.webhook_attempts, settings.webhook_backoff_seconds)
            if problem is None:
                annotate(store, run_id, f"Webhook {shown(url)} notified.")
            else:
                logger.warning("Webhook %s failed: %s", shown(url), problem)
                annotate(store, run_id, sentence(f"Webhook {shown(url)} could not be notified: {problem}"), "warning")
