"""One export over a small generated profile table, with an oracle computed apart from segport's own code.

Profiles `k0000..` have `group` = number % 100, so a segment `group < N` holds about N % of them; every 37th
email is invalid and every 53rd repeats an earlier one. The oracle is what the list must hold: the valid,
distinct emails of the members, minus the contacts that unsubscribed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from segport.exports import launch
from segport.exports import service as exports
from segport.exports.dry_run import DryRun, dry_run
from segport.exports.normalize import normalize_email
from segport.profiles.importer import import_profiles
from segport.runs.history import RunView, iter_rows_not_sent, show_run
from segport.segments.service import create_segment, edit_segment
from segport.store import Store
from segport.store.tables import run_sent
from tests.support.app import App

# Settings under which failures are waited out in milliseconds instead of seconds.
QUICK = {
    "retry_base_delay_seconds": 0.01,
    "retry_max_delay_seconds": 0.05,
    "retry_queue_delay_seconds": 0.05,
    "activity_poll_seconds": 0.01,
}


def rows_counted(store: Store, view: RunView) -> RunView:
    """The run, checked: the count of rows it keeps is its rows' (runs.record adds to it with each row it
    writes, copied from the sync state or not). Every run of the tests that run exports through here."""
    counted = sum(1 for _ in iter_rows_not_sent(store, run_id=view.id))
    assert view.rows_not_sent == counted, f"run {view.id} counts {view.rows_not_sent} rows and has {counted}"
    return view


def email_of(number: int) -> str:
    if number % 37 == 36:
        return f"broken {number}@example"
    if number % 53 == 52:
        return email_of(number - 1).upper()  # the same address as the profile before, in other case
    return f"p{number}@example.com"


@dataclass
class ExportWorld:
    app: App
    directory: Path
    mode: str = "add"
    count: int = 300
    threshold: int = 90
    name: str = "E"
    first_names: dict[int, str] = field(default_factory=dict)
    list_id: str = ""

    def __post_init__(self) -> None:
        self.load()
        create_segment(self.app.store, name="Chosen", rule_text=f"group < {self.threshold}", actor="t")
        self.list_id = self.app.emulator.create_list(f"List {self.name}")
        exports.add_export(
            self.app.store,
            self.app.settings,
            name=self.name,
            connection="CC",
            list_id=self.list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=["Chosen"],
            actor="t",
            mode=self.mode,
            http=self.app.http,
        )

    def load(self) -> None:
        path = self.directory / "profiles.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["key", "email", "first_name", "group"])
            for number in range(self.count):
                first = self.first_names.get(number, f"Name{number}")
                writer.writerow([f"k{number:04d}", email_of(number), first, number % 100])
        import_profiles(self.app.store, path, key="key", actor="t")

    def rename(self, number: int, first_name: str) -> None:
        self.first_names[number] = first_name
        self.load()

    def narrow(self, threshold: int) -> None:
        self.threshold = threshold
        edit_segment(self.app.store, name="Chosen", rule_text=f"group < {threshold}", actor="t")

    def member_emails(self) -> set[str]:
        found = set()
        for number in range(self.count):
            if number % 100 < self.threshold:
                email, problem = normalize_email(email_of(number))
                if problem is None:
                    found.add(email)
        return found

    def expected(self) -> set[str]:
        """The oracle: valid distinct member emails, minus unsubscribed and refused contacts."""
        world = self.app.emulator.world
        gone = {key for key, contact in world.contacts.items() if contact.permission == "unsubscribed"}
        return self.member_emails() - gone - world.blocked - world.malformed

    def listed(self) -> set[str]:
        return set(self.app.emulator.members(self.list_id))

    def run(self, *, settings: App | None = None, **options: object) -> RunView:
        app = settings or self.app
        run_id = launch.run_export(
            app.store,
            app.settings,
            name=self.name,
            actor="tester",
            http=app.http,
            **options,  # type: ignore[arg-type]
        )
        return rows_counted(app.store, show_run(app.store, run_id=run_id))

    def plan(self) -> DryRun:
        return dry_run(self.app.store, self.app.settings, name=self.name, http=self.app.http)

    def rows(self, run_id: int) -> list[tuple[str, str | None, str, str | None]]:
        return list(iter_rows_not_sent(self.app.store, run_id=run_id))

    def staged(self, run_id: int) -> int:
        with self.app.store.read() as db:
            return len(db.execute(select(run_sent.c.profile_key).where(run_sent.c.run_id == run_id)).all())

    def accepted_imports(self) -> int:
        """Imports into the export's list that Constant Contact accepted (removal lists not counted)."""
        return sum(
            1
            for record in self.app.emulator.world.activities.values()
            if record.kind == "import" and self.list_id in record.list_ids
        )


def nothing_to_do(plan: DryRun) -> bool:
    return plan.add == 0 and plan.update == 0 and plan.remove == 0
