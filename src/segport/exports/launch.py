"""Starting runs: on demand from the CLI (queue or join, then work it here), or a run a worker claimed.

Either way the run is held by a lease in the runs table while this process works it; the heartbeat keeps
the lease, and a process that fails unexpectedly lets go of it so that the next attempt resumes at once.
"""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import insert, select

from segport.config import Settings
from segport.connections.service import client_for, http_session
from segport.errors import SegportError
from segport.exports import alerts, runner
from segport.exports.control import RunControl, Stop
from segport.exports.run_log import event, finish, now
from segport.exports.runner import RunProgress
from segport.exports.service import connection_of, show_export
from segport.notifications import notify_if_needed
from segport.scheduling import queue
from segport.store import Store
from segport.store.tables import exports, run_events, runs


def run_export(
    store: Store,
    settings: Settings,
    *,
    name: str,
    actor: str,
    trigger: str = "manual",
    full: bool = False,
    allow_mass_removal: bool = False,
    progress: RunProgress | None = None,
    http: httpx.Client | None = None,
    wait: bool = True,
) -> int:
    """Run the export now and return the run's id; its row says how it ended.

    A run of this export already queued or processing is joined instead: resumed here when nobody holds
    it (its process died), else waited for (`wait`) while the worker that holds it finishes.
    """
    export = show_export(store, name=name)
    run_id, _ = queue.enqueue(store, export.id, trigger=trigger, actor=actor, full=full)
    owner = queue.identity()
    claimed = queue.claim(store, owner, settings.lease_seconds, run_id=run_id)
    if claimed is None:
        if wait:
            wait_for(store, run_id)
        return run_id
    execute_run(
        store,
        settings,
        run_id,
        owner,
        attempts=claimed[1],
        actor=actor,
        allow_mass_removal=allow_mass_removal,
        progress=progress,
        http=http,
    )
    return run_id


def wait_for(store: Store, run_id: int, poll_seconds: float = 1.0) -> str:
    """Block until the run ends; returns its status."""
    while True:
        status, _, _ = queue.state_of(store, run_id)
        if status not in queue.UNFINISHED:
            return status
        time.sleep(poll_seconds)


def execute_run(
    store: Store,
    settings: Settings,
    run_id: int,
    owner: str,
    *,
    attempts: int,
    actor: str,
    allow_mass_removal: bool = False,
    progress: RunProgress | None = None,
    http: httpx.Client | None = None,
    shutdown: threading.Event | None = None,
) -> None:
    """Work a run this process has claimed, from wherever it stands, to its end (or to a clean stop)."""
    with store.begin() as db:
        export_name = db.execute(
            select(exports.c.name).join(runs, runs.c.export_id == exports.c.id).where(runs.c.id == run_id)
        ).scalar_one()
    export = show_export(store, name=export_name)
    resumed = attempts > 1
    with store.begin() as db:
        message = f"Resumed by {owner} after an interruption." if resumed else f"Started by {actor} ({owner})."
        db.execute(
            insert(run_events).values(run_id=run_id, at=now(), level="warning" if resumed else "info", message=message)
        )
    control = RunControl(store, run_id, owner, settings.lease_seconds, shutdown)
    try:
        with http_session(settings, http) as session:
            client = client_for(store, settings, session, connection_of(export))
            runner.execute_phases(
                store,
                settings,
                export,
                run_id,
                resumed,
                progress or runner.Silent(),
                client,
                allow_mass_removal,
                control,
            )
    except Stop as stop:
        if stop.reason == "shutdown":
            queue.let_go(store, run_id, owner, requeue=True)
            event(
                store, run_id, f"Handed back by {owner}, which is shutting down; the next worker resumes it.", "warning"
            )
        # "lost": another worker holds the run now and carries on; nothing here may touch it.
        return
    except SegportError as exc:
        finish(store, run_id, "Failure", str(exc), "error")
    except BaseException:
        queue.let_go(store, run_id, owner, requeue=False)  # resumable at once by the next attempt
        raise
    finally:
        control.close()
    raised = alerts.check_run(store, settings, run_id)
    notify_if_needed(store, settings, run_id, alerts=raised)  # a real network call: webhooks are not Constant Contact
