"""`segport demo`: the whole job on a fresh data directory, against the built-in emulator, no account needed.

It loads the shipped sample profiles (made by the seeded generator), starts the emulator, connects to it
(consent and OAuth sign-in), creates a list, defines two segments and an export, runs it, and prints the
run's summary beside the list size the emulator holds.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from segport.connections import service as connections
from segport.connections.sign_in import sign_in_with
from segport.emulator import Emulator
from segport.emulator.serve import serve_in_background, settings_for_emulator
from segport.exports import launch
from segport.exports import service as exports
from segport.profiles.importer import import_profiles
from segport.runs.history import iter_rows_not_sent, show_run
from segport.segments import membership
from segport.segments import service as segments
from segport.store import open_store

SAMPLE = Path(__file__).with_name("demo_data") / "profiles.csv"
SHOWN_ROWS = 5


def run_demo(say: Callable[[str], None], home: Path | None = None) -> dict[str, int]:
    """Run the demo in `home` (kept), or in a temporary directory removed at the end; returns the run's counts
    and the emulator's list size (for tests)."""
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        return _run(say, home, keep=True)
    with tempfile.TemporaryDirectory(prefix="segport-demo-") as temporary:
        return _run(say, Path(temporary), keep=False)


def command() -> str:
    """How this segport is started from a shell: the `segport` script beside this Python when there is one
    (a virtual environment's bin/, which is often not on PATH), else this Python with -m segport."""
    script = Path(sys.executable).with_name("segport")
    return shlex.quote(str(script)) if script.exists() else f"{shlex.quote(sys.executable)} -m segport"


def _run(say: Callable[[str], None], home: Path, *, keep: bool) -> dict[str, int]:
    emulator = Emulator()
    with serve_in_background(emulator) as base:
        settings = settings_for_emulator(base, home=home, user="demo-admin")
        say(f"Data directory: {home}")
        say(f"Constant Contact emulator: {base}")
        store = open_store(settings)
        loaded = import_profiles(store, SAMPLE, key="Customer ID", actor=settings.actor)
        say(f"Loaded {loaded.rows:,} sample profiles ({len(loaded.fields)} fields) from {SAMPLE.name}.")

        say("Accepting the data privacy and compliance terms as demo-admin, and signing in to the emulator...")
        connection = connections.add_connection(
            store,
            settings,
            name="Demo Constant Contact",
            allow_contributors=True,
            agreed=True,
            actor=settings.actor,
            sign_in=sign_in_with(settings, announce=say, open_browser=False),
        )
        say(f"Connected to {connection.account_name!r}.")
        list_id = emulator.create_list("segport demo: Canada and big spenders")
        opted_out = _unsubscribe_some(emulator, SAMPLE, 3)
        say(f"In the emulated account, {len(opted_out)} of these customers have unsubscribed: {', '.join(opted_out)}.")
        for name, rule in (("Canada", 'country = "CA"'), ("Big spenders", "lifetime_value >= 2500 and orders >= 2")):
            segments.create_segment(store, name=name, rule_text=rule, actor=settings.actor)
            say(f"Segment {name!r}: {rule} -> {membership.count_segment(store, name=name):,} members.")
        exports.add_export(
            store,
            settings,
            name="Demo export",
            connection=connection.name,
            list_id=list_id,
            email_field="email",
            first_name_field="first_name",
            last_name_field="last_name",
            segment_names=["Canada", "Big spenders"],
            actor=settings.actor,
        )
        say("Saved the export 'Demo export' (segments Canada + Big spenders -> the demo list). Running it...")
        run_id = launch.run_export(store, settings, name="Demo export", actor=settings.actor)
        view = show_run(store, run_id=run_id)
        listed = len(emulator.members(list_id))
        not_sent = list(islice(iter_rows_not_sent(store, run_id=run_id), SHOWN_ROWS))
        store.close()
    counts = dict(view.counts)
    say(f"Run {view.id}: {view.status}. {view.message}")
    say("  " + ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in counts.items()))
    adds_up = counts["members"] == counts["sent"] + counts["invalid_email"] + counts["duplicate"] + counts["unchanged"]
    say(f"  members = sent + invalid email + duplicate + unchanged: {'yes' if adds_up else 'NO'}")
    say(
        f"The emulator's list now holds {listed:,} contacts "
        f"(sent {counts['sent']:,} - not added {counts['unsubscribed'] + counts['errors']:,})."
    )
    if not_sent:
        say(f"The first of the {view.rows_not_sent:,} rows not sent, with their reasons:")
        for key, email, reason, _detail in not_sent:
            say(f"  {key}  {email or '-'}  {reason.replace('_', ' ')}")
    if keep:
        say(f"The data is kept in {home}. Look around with: SEGPORT_HOME={shlex.quote(str(home))} {command()} ...")
        say(f"  e.g. SEGPORT_HOME={shlex.quote(str(home))} {command()} runs rows {view.id} --csv")
    else:
        say(f"The demo's data was removed. To keep it and look around: {command()} demo --keep ./segport-demo")
    return {**counts, "listed": listed, "run_id": run_id}


def _unsubscribe_some(emulator: Emulator, sample: Path, count: int) -> list[str]:
    """Make a few Canadian customers of the sample unsubscribed contacts, as people who opted out would be."""
    import csv

    from segport.exports.normalize import normalize_email

    chosen: list[str] = []
    with sample.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            email, problem = normalize_email(row["Email"])
            if problem is None and row["Country"] == "CA" and email not in chosen:
                chosen.append(email)
            if len(chosen) == count:
                break
    for email in chosen:
        emulator.world.upsert(email, None, None, emulator.clock.now())
        emulator.unsubscribe(email)
    return chosen
