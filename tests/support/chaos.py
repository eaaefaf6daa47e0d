"""The chaos suite's engine: seeded scenarios of faults, kills and changes, each checked against an oracle.

One seed plays one scenario in its own process tree, so nothing is shared between seeds and several run at once:

    seed process ── emulator process (forked; restarted from its state file when the seed says so)
                 └─ one run process per attempt (forked, so no interpreter start-up per run), killed with
                    SIGKILL at a failpoint (the exact window: after Constant Contact accepted a batch and before
                    its checkpoint, between the steps of a removal, ...) or after a random delay

A scenario has 2 or 3 rounds. Between rounds the profiles change (the segment narrows or widens, names and
emails change) and contacts unsubscribe in Constant Contact. Each round runs the export once under a random
fault schedule and maybe a kill, then recovers the way an operator would (runs again; a parked run is resumed
after the quota resets or after a reauthorization) until a run ends Successful, and checks:

- the list equals the oracle: the members' valid unique emails minus the unsubscribed and refused ones (mirror
  mode); in add mode it holds them all and nobody who was never a member;
- a dry run has nothing to do;
- every member is on the list or among the last run's rows not sent, with a reason;
- every checkpointed batch has its own activity, and Constant Contact accepted at most one batch that no
  checkpoint names per crash (a kill, an answer lost after the import was applied, an emulator restart).
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update

from segport import failpoints
from segport.connections import service as connections
from segport.connections.sign_in import sign_in_with
from segport.emulator.serve import EmulatorOptions, free_port, serve_emulator, settings_for_emulator, wait_until_healthy
from segport.exports import launch
from segport.exports import service as exports
from segport.exports.dry_run import dry_run
from segport.exports.normalize import normalize_email
from segport.profiles.importer import import_profiles
from segport.runs.history import iter_rows_not_sent, list_runs
from segport.runs.queue import cancel
from segport.runs.status import Status, Wait
from segport.segments.service import create_segment, edit_segment
from segport.store import Store, open_store
from segport.store.tables import run_batches, runs, sync_state

# Where a run may die: names of segport.failpoints.point calls.
KILL_POINTS = (
    "prepared",
    "sending",
    "sent",
    "checkpointed",
    "opt-outs-found",
    "holding-list-unrecorded",
    "holding-list-created",
    "holding-list-filled",
    "removed",
)
RECOVERY_ATTEMPTS = 8


@dataclass
class SeedResult:
    seed: int
    mode: str
    runs: int = 0
    kills: int = 0
    restarts: int = 0
    lists_exact: bool = True
    batches_resent: int = 0
    resends_allowed: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Round:
    faults: list[str]
    kill_point: str | None
    kill_occurrence: int
    kill_after: float | None
    restart: bool  # restart the emulator (from its state file) while the run goes on
    ambiguous: int  # faults that may apply an import without saying so (an allowed resend each)


def email_of(number: int, version: int) -> str:
    """A profile's email; version > 0 gives it a new address (a changed email)."""
    if number % 37 == 36:
        return f"broken {number}@example"
    if number % 53 == 52:
        return email_of(number - 1, version).upper()  # the same address as the profile before it
    return f"p{number}.v{version}@example.com" if version else f"p{number}@example.com"


class Scenario:
    def __init__(self, seed: int, directory: Path) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.directory = directory
        self.mode = self.random.choice(["add", "mirror"])
        self.count = self.random.randint(120, 260)
        self.batch = self.random.choice([20, 30, 45])
        self.threshold = self.random.randint(50, 95)
        self.versions: dict[int, int] = {}
        self.first_names: dict[int, str] = {}
        self.ever_members: set[str] = set()
        self.result = SeedResult(seed, self.mode)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.state_file = directory / "emulator-state.json"
        self.emulator_pid = 0

    # -- the emulator in its own process --------------------------------------------------------------------

    def start_emulator(self) -> None:
        pid = os.fork()
        if pid == 0:  # the emulator process
            code = 0
            try:
                options = EmulatorOptions(
                    port=self.port,
                    state_file=self.state_file,
                    contacts_per_second=20_000,
                    rate_limits=False,
                    activity_start_delay=0.05,
                    withheld_seconds=3,
                )
                serve_emulator(options, announce=lambda _text: None)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        self.emulator_pid = pid
        if not wait_until_healthy(self.base, 20):
            raise RuntimeError("the chaos emulator did not start")

    def stop_emulator(self) -> None:
        if not self.emulator_pid:
            return
        os.kill(self.emulator_pid, signal.SIGTERM)  # it saves its state on the way out
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.emulator_pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(self.emulator_pid, signal.SIGKILL)
            os.waitpid(self.emulator_pid, 0)
        self.emulator_pid = 0

    def restart_emulator(self) -> None:
        self.stop_emulator()
        self.start_emulator()
        self.result.restarts += 1

    def emulator(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(method, f"{self.base}/_emulator{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    # -- segport's side -------------------------------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "batch_max_contacts": self.batch,
            "cc_requests_per_second": 10.0,
            "retry_base_delay_seconds": 0.01,
            "retry_max_delay_seconds": 0.05,
            "retry_queue_delay_seconds": 0.05,
            "activity_poll_seconds": 0.02,
            "http_read_timeout": 1.0,
            "lease_seconds": 3.0,
            "run_wait_seconds": 60.0,
        }

    def open(self) -> Store:
        settings = settings_for_emulator(self.base, home=self.directory, user="chaos", **self.settings_overrides())
        self.settings = settings
        return open_store(settings)

    def write_profiles(self, store: Store) -> None:
        path = self.directory / "profiles.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["key", "email", "first_name", "group"])
            for number in range(self.count):
                first = self.first_names.get(number, f"Name{number}")
                writer.writerow([f"k{number:04d}", email_of(number, self.versions.get(number, 0)), first, number % 100])
        import_profiles(store, path, key="key", actor="chaos")

    def members(self) -> dict[str, str]:
        """Profile key -> raw email of the segment's members (the oracle's input, read from the scenario)."""
        return {
            f"k{number:04d}": email_of(number, self.versions.get(number, 0))
            for number in range(self.count)
            if number % 100 < self.threshold
        }

    def member_emails(self) -> set[str]:
        found = set()
        for raw in self.members().values():
            email, problem = normalize_email(raw)
            if problem is None:
                found.add(email)
        return found

    def set_up(self, store: Store) -> None:
        connections.add_connection(
            store,
            self.settings,
            name="CC",
            allow_contributors=False,
            agreed=True,
            actor="chaos",
            sign_in=sign_in_with(self.settings, announce=lambda _text: None, open_browser=False),
        )
        self.write_profiles(store)
        create_segment(store, name="Chosen", rule_text=f"group < {self.threshold}", actor="chaos")
        self.list_id = self.emulator("POST", "/lists", {"name": "Chaos"})["list_id"]
        exports.add_export(
            store,
            self.settings,
            name="E",
            connection="CC",
            list_id=self.list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=["Chosen"],
            actor="chaos",
            mode=self.mode,
        )
        blocked = self.random.sample(sorted(self.member_emails()), k=self.random.randint(0, 2))
        if blocked:
            self.emulator("POST", "/blocked", {"emails": blocked})

    def change(self, store: Store) -> None:
        """Between rounds: the segment narrows or widens, profiles change, contacts unsubscribe."""
        choice = self.random.random()
        if choice < 0.4:
            # Narrows, by less than the mirror guard's 20 % of the list with the other changes below.
            self.threshold = max(10, self.threshold - self.random.randint(1, max(1, self.threshold // 8)))
            edit_segment(store, name="Chosen", rule_text=f"group < {self.threshold}", actor="chaos")
        elif choice < 0.6:
            self.threshold = min(100, self.threshold + self.random.randint(3, 15))
            edit_segment(store, name="Chosen", rule_text=f"group < {self.threshold}", actor="chaos")
        for number in self.random.sample(range(self.count), k=self.random.randint(0, 6)):
            if self.random.random() < 0.5:
                self.versions[number] = self.versions.get(number, 0) + 1  # a new email address
            else:
                self.first_names[number] = f"Renamed{self.random.randint(0, 999)}"
        self.write_profiles(store)
        listed = sorted(self.listed())
        for email in self.random.sample(listed, k=min(len(listed), self.random.randint(0, 3))):
            self.emulator("POST", f"/contacts/{email}/unsubscribe")

    def listed(self) -> set[str]:
        members = self.emulator("GET", f"/lists/{self.list_id}/members")["members"]
        return {member["email"].lower() for member in members}

    def gone(self) -> set[str]:
        """Contacts that cannot be on a list: unsubscribed, or refused by the account."""
        return set(self.emulator("GET", "/blocked")["blocked"]) | set(self.emulator("GET", "/unsubscribed")["emails"])

    # -- one round ------------------------------------------------------------------------------------------

    def plan_round(self, number: int) -> Round:
        pick = self.random
        faults: list[str] = []
        ambiguous = 0
        menu = [
            lambda: f"requests#{pick.randint(1, 6)}-{pick.randint(8, 66)}=throttled",
            lambda: f"imports#{pick.randint(1, 4)}-{pick.randint(4, 9)}=503",
            lambda: f"requests#{pick.randint(2, 12)}=drop",
            lambda: f"imports#{pick.randint(1, 4)}=drop-after",
            lambda: f"imports#{pick.randint(1, 4)}=timeout",
            lambda: f"imports#{pick.randint(2, 5)}=quota",
            lambda: f"imports#{pick.randint(2, 5)}=400",
            lambda: f"polls#{pick.randint(1, 3)}=quota",
            lambda: f"requests#{pick.randint(2, 10)}=revoke",
            lambda: f"requests#{pick.randint(2, 10)}=revoke-grant",
            lambda: f"activities#{pick.randint(1, 4)}={pick.choice(['failed', 'timed_out', 'cancelled'])}",
            lambda: f"imports#{pick.randint(1, 4)}=queue-full",
            lambda: f"removals#{pick.randint(1, 2)}=503",
            lambda: f"exports#{pick.randint(1, 3)}=503",
            lambda: f"polls#{pick.randint(1, 4)}-{pick.randint(4, 8)}=502",
        ]
        for _ in range(pick.randint(0 if number else 1, 3)):
            fault = pick.choice(menu)()
            faults.append(fault)
            if fault.startswith("imports") and (fault.endswith("=drop-after") or fault.endswith("=timeout")):
                ambiguous += 1
        kill_point = pick.choice(KILL_POINTS) if pick.random() < 0.55 else None
        kill_after = pick.uniform(0.05, 1.5) if kill_point is None and pick.random() < 0.35 else None
        restart = pick.random() < 0.15 and not any(fault.endswith("=timeout") for fault in faults)
        return Round(faults, kill_point, pick.randint(1, 3), kill_after, restart, ambiguous)

    def run_once(self, store: Store, plan: Round | None) -> bool:
        """Run the export in a child process (killed as planned); True when the child was killed."""
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the run process: it must not touch the parent's connections
            code = 0
            try:
                store.engine.dispose(close=False)
                own = open_store(self.settings, migrate=False)
                if plan is not None and plan.kill_point is not None:
                    _kill_at(plan.kill_point, plan.kill_occurrence)
                launch.run_export(own, self.settings, name="E", actor="chaos", wait=False)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        self.result.runs += 1
        if plan is not None and plan.restart:
            time.sleep(self.random.uniform(0.05, 0.6))
            self.restart_emulator()
        if plan is not None and plan.kill_after is not None:
            remaining = plan.kill_after - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            with contextlib.suppress(ProcessLookupError):  # it may have ended already
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
            self.result.problems.append(f"a run process failed with {os.WEXITSTATUS(status)} (see its stderr)")
        if killed:
            self.result.kills += 1
        return killed

    def recover(self, store: Store) -> None:
        """Run again as an operator would until a run ends Successful (resume parked runs when they may go on)."""
        for _ in range(RECOVERY_ATTEMPTS):
            latest = list_runs(store, export="E", limit=1)
            if latest and latest[0].status == Status.SUCCESSFUL:
                return
            if latest and latest[0].status in (Status.QUEUED, Status.PROCESSING) and self.random.random() < 0.3:
                # The operator gives up on the run left waiting or interrupted: a processing one stops at once
                # when it resumes, a queued one is canceled now; what they sent must still be accounted for.
                cancel(store, run_id=latest[0].id, actor="chaos")
            elif latest and latest[0].status == Status.QUEUED and latest[0].wait_reason == Wait.QUOTA:
                with store.begin() as db:  # time passes: the daily quota resets
                    db.execute(update(runs).where(runs.c.id == latest[0].id).values(wait_until=None))
            elif latest and latest[0].status == Status.QUEUED and latest[0].wait_reason == Wait.REAUTHORIZATION:
                connections.reauthorize_connection(
                    store,
                    self.settings,
                    name="CC",
                    actor="chaos",
                    sign_in=sign_in_with(self.settings, announce=lambda _text: None, open_browser=False),
                )
            self.run_once(store, None)
        latest = list_runs(store, export="E", limit=1)
        self.result.problems.append(
            f"no Successful run after {RECOVERY_ATTEMPTS} recoveries: {latest[0].status} {latest[0].message}"
        )

    def check(self, store: Store, accepted_before: int) -> None:
        problems = self.result.problems
        listed = self.listed()
        gone = self.gone()
        expected = self.member_emails() - gone
        self.ever_members |= self.member_emails()
        # Mirror: exactly the members. Add: every member, and nobody who never was one.
        exact = listed == expected if self.mode == "mirror" else expected <= listed <= self.ever_members
        if not exact:
            self.result.lists_exact = False
            problems.append(
                f"list not exact: missing {sorted(expected - listed)[:5]}, extra {sorted(listed - expected)[:5]}"
            )
        # The list started empty and only this export adds to it: it owns every contact it put there (else mirror
        # mode would never take them off), and its sync state names exactly what is on the list for it.
        with store.read() as db:
            synced = db.execute(select(sync_state.c.email, sync_state.c.added_by_export, sync_state.c.outcome)).all()
        disowned = sorted(email for email, owned, _ in synced if not owned)
        if disowned:
            problems.append(f"{len(disowned)} contacts the export added are recorded as not its own: {disowned[:3]}")
        recorded = {email for email, _, outcome in synced if outcome == "added"}
        if not (recorded == listed if self.mode == "mirror" else recorded <= listed):
            problems.append(
                f"the sync state disagrees with the list: recorded only {sorted(recorded - listed)[:3]}, "
                f"listed only {sorted(listed - recorded)[:3]}"
            )
        plan = dry_run(store, self.settings, name="E")
        if plan.add or plan.update or plan.remove:
            problems.append(f"dry run not empty: add {plan.add}, update {plan.update}, remove {plan.remove}")
        [last] = list_runs(store, export="E", limit=1)
        explained = {key for key, _, _, _ in iter_rows_not_sent(store, run_id=last.id)}
        for key, raw in self.members().items():
            email, problem = normalize_email(raw)
            if key not in explained and (problem is not None or email not in listed):
                problems.append(f"member {key} ({raw}) is neither on the list nor among the rows not sent")
                break
        with store.read() as db:
            query = select(run_batches.c.activity_id).where(run_batches.c.activity_id.is_not(None))
            checkpointed = list(db.execute(query).scalars())
        if len(checkpointed) != len(set(checkpointed)):
            problems.append("two checkpoints name the same activity")
        imports = [
            activity["activity_id"]
            for activity in self.emulator("GET", "/activities")["activities"]
            if activity["kind"] == "import" and self.list_id in activity["list_ids"]
        ]
        unknown = set(checkpointed) - set(imports)
        if unknown:
            problems.append(f"{len(unknown)} checkpointed activities are unknown to Constant Contact")
        self.result.batches_resent = len(imports) - len(checkpointed)
        if self.result.batches_resent > self.result.resends_allowed:
            problems.append(
                f"{self.result.batches_resent} imports no checkpoint names, more than the "
                f"{self.result.resends_allowed} crashes and lost answers allow"
            )
        del accepted_before

    def play(self, rounds: int | None = None) -> SeedResult:
        started = time.monotonic()
        self.start_emulator()
        try:
            store = self.open()
            try:
                self.set_up(store)
                for number in range(rounds or self.random.randint(2, 3)):
                    if number:
                        self.change(store)
                    plan = self.plan_round(number)
                    self.emulator("DELETE", "/faults")
                    if plan.faults:
                        self.emulator("POST", "/faults", {"faults": plan.faults})
                    accepted_before = len(self.emulator("GET", "/activities")["activities"])
                    killed = self.run_once(store, plan)
                    self.result.resends_allowed += plan.ambiguous + int(killed) + int(plan.restart)
                    self.emulator("DELETE", "/faults")
                    self.recover(store)
                    self.check(store, accepted_before)
                    if self.result.problems:
                        self.result.problems.insert(0, f"round {number}: faults {plan.faults}, {plan}")
                        break
            finally:
                store.close()
        except BaseException as exc:
            self.result.problems.append(f"the scenario itself failed: {type(exc).__name__}: {exc}")
            self.result.problems.append(traceback.format_exc()[-2000:])
        finally:
            self.stop_emulator()
        self.result.seconds = round(time.monotonic() - started, 2)
        return self.result


def _kill_at(point: str, occurrence: int) -> None:
    seen = {"count": 0}

    def action(name: str) -> None:
        if name == point:
            seen["count"] += 1
            if seen["count"] == occurrence:
                os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no cleanup, no flush, threads and all

    failpoints.set_action(action)


def play_seed(seed: int, directory: Path) -> SeedResult:
    directory.mkdir(parents=True, exist_ok=True)
    return Scenario(seed, directory).play()


def play_seeds(seeds: list[int], directory: Path, *, parallel: int = 3) -> list[SeedResult]:
    """Play each seed in its own forked process, `parallel` at a time; results come back as JSON files."""
    pending = list(seeds)
    running: dict[int, int] = {}
    results: list[SeedResult] = []
    while pending or running:
        while pending and len(running) < parallel:
            seed = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    result = play_seed(seed, directory / f"seed-{seed}")
                    (directory / f"seed-{seed}.json").write_bytes(orjson.dumps(asdict(result)))
                except BaseException:
                    traceback.print_exc()
                    code = 1
                os._exit(code)
            running[pid] = seed
        pid, _status = os.wait()
        seed = running.pop(pid)
        report = directory / f"seed-{seed}.json"
        if report.exists():
            results.append(SeedResult(**orjson.loads(report.read_bytes())))
        else:
            results.append(SeedResult(seed, "?", problems=["the seed's process died without a report"]))
    return sorted(results, key=lambda result: result.seed)


def summary(results: list[SeedResult]) -> dict[str, Any]:
    return {
        "seeds": len(results),
        "runs": sum(result.runs for result in results),
        "kills": sum(result.kills for result in results),
        "restarts": sum(result.restarts for result in results),
        "lists_exact": all(result.lists_exact for result in results),
        "batches_resent": sum(result.batches_resent for result in results),
        "resends_allowed": sum(result.resends_allowed for result in results),
        "failed_seeds": [result.seed for result in results if result.problems],
    }
