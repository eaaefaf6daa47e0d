"""The web UI in real Chromium against `segport serve` and the emulator, each in its own process.

An admin signs in and adds connections through the wizard (consent, the emulator's sign-in page, the export
user), uploads profiles and sets the refresh; a contributor builds a segment in the builder, adds an export
(offered only the shared connection), runs it, watches it become Successful and downloads the rows not sent;
a viewer sees no edit controls. Every page is photographed into test-artifacts/screenshots.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from segport.emulator.serve import free_port
from tests.e2e.browser import Fence, accessibility_problems, browser, chromium_or_skip, screenshot
from tests.e2e.cli import emulator_process, environment
from tests.support.receivers import hook_server, smtp_inbox

PASSWORDS = {"ada": "ada-password-1", "cora": "cora-password-1", "vic": "vic-password-1"}


def write_profiles(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first", "last", "country", "orders"])
        for number in range(40):
            email = f"p{number}@example.org" if number % 10 != 3 else "not an address"
            writer.writerow([f"c{number}", email, f"Zoë {number}", "Ōta", "CA" if number % 2 else "US", number % 5])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    chromium_or_skip()
    home = tmp_path_factory.mktemp("web")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        emulator_process("--consent-page", "--redirect-uri", f"{base}/oauth/callback") as emulator,
        hook_server() as hook,
        smtp_inbox() as inbox,
    ):
        env = environment(
            home / "home",
            emulator,
            SEGPORT_API_PUBLIC_URL=base,
            SEGPORT_WORKER_IDLE_SECONDS="0.2",
            # Alerts go to receivers on this machine: an SMTP server and a chat webhook.
            SEGPORT_SMTP_HOST="127.0.0.1",
            SEGPORT_SMTP_PORT=str(inbox.port),
            SEGPORT_SMTP_SECURITY="none",
            SEGPORT_SMTP_FROM="segport@example.com",
            SEGPORT_WEBHOOK_ALLOW_INTERNAL="true",
        )
        for name, role in (("ada", "admin"), ("cora", "contributor"), ("vic", "viewer")):
            added = subprocess.run(
                [sys.executable, "-m", "segport", "users", "add", name, "--role", role, "--password-stdin"],
                env=env,
                input=PASSWORDS[name] + "\n",
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert added.returncode == 0, added.stderr
        server = subprocess.Popen(
            [sys.executable, "-m", "segport", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, "segport serve did not start"
                time.sleep(0.2)
            with browser() as chromium:
                yield {
                    "base": base,
                    "emulator": emulator,
                    "env": env,
                    "home": home,
                    "browser": chromium,
                    "hook": hook,
                    "inbox": inbox,
                }
        finally:
            server.terminate()
            server.communicate(timeout=30)


class Visitor:
    """One person's browser context: fenced, watched, and signed in."""

    def __init__(self, site: dict[str, Any], name: str, width: int = 1280) -> None:
        self.fence = Fence(site["base"], site["emulator"])
        self.context = site["browser"].new_context(
            viewport={"width": width, "height": 900},
            accept_downloads=True,
            locale="en-US",
            timezone_id="America/Toronto",  # times must show in the viewer's zone, whatever the server's
        )
        self.context.route("**/*", self.fence.route)
        self.page = self.context.new_page()
        self.fence.watch(self.page)
        self.base = site["base"]
        self.name = name

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def sign_in(self) -> None:
        page = self.go("/exports")
        assert "/sign-in" in page.url  # not signed in: sent to the sign-in page, and back afterwards
        page.get_by_label("Name").fill(self.name)
        page.get_by_label("Password").fill(PASSWORDS[self.name])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.base + "/exports")

    def close(self) -> None:
        self.context.close()
        assert not self.fence.outside, f"requests outside segport: {self.fence.outside}"
        assert not self.fence.console_errors, f"browser console errors: {self.fence.console_errors}"


def add_connection(admin: Visitor, name: str, shared: bool, shots: bool = False) -> None:
    page = admin.go("/connections")
    page.get_by_role("link", name="Add connection").click()
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Admins and contributors" if shared else "Admins only").check()
    page.get_by_label("I agree").check()
    if shots:
        screenshot(page, "03-connection-wizard")
    page.get_by_role("button", name="Connect").click()
    page.wait_for_url(re.compile(r".*/oauth2/default/v1/authorize.*"))  # the emulator's sign-in page
    if shots:
        screenshot(page, "04-constant-contact-sign-in")
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url(re.compile(r".*/connections/new/review\?pending=.*"))
    assert page.locator("#account").inner_text()  # back with the account shown
    page.get_by_role("button", name="Save").click()
    assert "no export user" in page.get_by_role("alert").inner_text()  # Save needs the export user
    page.get_by_label(re.compile("Add yourself")).check()
    if shots:
        screenshot(page, "05-connection-export-user")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/connections/[^/]+$"))
    assert f"The connection '{name}' is saved." in page.get_by_role("status").first.inner_text()


def test_admin_contributor_and_viewer_do_their_work_in_the_browser(site: dict[str, Any], tmp_path: Path) -> None:
    base, emulator = site["base"], site["emulator"]

    # --- the admin: sign-in, connections through the wizard, profiles, the refresh schedule ---------------
    admin = Visitor(site, "ada")
    page = admin.go("/sign-in")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "The name or the password is wrong" in page.get_by_role("alert").inner_text()
    screenshot(page, "01-sign-in")
    admin.sign_in()
    screenshot(admin.page, "02-exports-empty")

    page = admin.go("/connections/new")
    page.get_by_label("Display name").fill("Forgot to agree")
    page.get_by_role("button", name="Connect").click()
    assert "tick “I agree” to go on" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Display name").input_value() == "Forgot to agree"  # what was typed is kept

    add_connection(admin, "Marketing CC", shared=True, shots=True)
    screenshot(admin.page, "06-connection-detail")
    add_connection(admin, "Private CC", shared=False)
    screenshot(admin.go("/connections"), "07-connections")

    profiles = tmp_path / "people.csv"
    write_profiles(profiles)
    page = admin.go("/profiles")
    page.get_by_label(re.compile("CSV or Parquet file")).set_input_files(str(profiles))
    page.get_by_label("Column that identifies a customer").fill("id")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector("text=Imported 40 profiles with 6 fields.")
    assert page.locator("[data-rows]").inner_text() == "40"
    screenshot(page, "08-profiles")

    page = admin.go("/schedule")
    page.get_by_label("Times (HH:MM, one or more, comma-separated)").fill("06:00, 18:30")
    page.get_by_label("Time zone").fill("America/Toronto")
    page.get_by_role("button", name="Save refresh schedule").click()
    assert "The refresh runs daily at 06:00, 18:30 (America/Toronto)." in page.get_by_role("status").first.inner_text()
    next_refresh = page.locator("main time").first
    # The page's script turns UTC times into the viewer's; under load it may not have run yet: wait for it.
    # (Playwright's expect polls with its own script; wait_for_function would evaluate a string, which the
    # page's Content-Security-Policy refuses whenever the first check is not already true.)
    local = re.compile(r"(6:00|06:00|6:30|06:30) (AM|PM) EST")
    expect(next_refresh).to_have_text(local)
    assert local.search(next_refresh.inner_text()), next_refresh.inner_text()
    assert next_refresh.get_attribute("title").endswith("UTC")  # the UTC moment stays at hand
    screenshot(page, "09-schedule")
    page = admin.go("/users")
    screenshot(page, "10-users")

    # --- the contributor: a segment in the builder, an export, a run, the rows not sent -------------------
    cora = Visitor(site, "cora")
    cora.sign_in()
    page = cora.go("/segments/new")
    page.get_by_label("Segment name").fill("Canadians")
    page.get_by_label("Field", exact=True).first.select_option("country")
    page.get_by_label("Operator", exact=True).first.select_option("=")
    page.get_by_label("Value", exact=True).first.fill("CA")
    page.wait_for_selector("text=Estimated size: 20 members now.")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(1).select_option("orders")
    page.get_by_label("Operator", exact=True).nth(1).select_option(">=")
    page.get_by_label("Value", exact=True).nth(1).fill("1")
    page.wait_for_selector("text=Estimated size: 16 members now.")
    assert page.get_by_label("The rule as text").input_value() == 'country = "CA" and orders >= 1'
    # With the keyboard: each change rebuilds the builder, and the focus stays where the person works.
    focused = "document.activeElement.dataset.key || document.activeElement.tagName"
    page.get_by_label("Operator", exact=True).first.focus()
    page.keyboard.press("ArrowDown")  # another operator: the row is rebuilt
    assert page.evaluate(focused) == "g.0:operator"
    page.keyboard.press("ArrowUp")
    page.get_by_role("button", name="Add condition").focus()
    page.keyboard.press("Enter")
    assert page.evaluate(focused) == "g.2:field"  # the new condition's field
    page.get_by_role("button", name="Remove this condition").nth(2).focus()
    page.keyboard.press("Enter")
    assert page.evaluate(focused) == "g:add"  # nothing took its place: Add condition
    page.wait_for_selector("text=Estimated size: 16 members now.")
    assert page.get_by_label("The rule as text").input_value() == 'country = "CA" and orders >= 1'
    page.get_by_label("Combine conditions with").select_option("or")
    page.wait_for_selector("text=Estimated size: 36 members now.")
    page.get_by_label("Combine conditions with").select_option("and")
    page.wait_for_selector("text=Estimated size: 16 members now.")
    screenshot(page, "11-segment-builder")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_selector("text=The segment 'Canadians' is saved (16 members).")
    screenshot(page, "12-segment-detail")

    list_id = httpx.post(f"{emulator}/_emulator/lists", json={"name": "Canadian customers"}).json()["list_id"]
    page = cora.go("/exports/new")
    offered = page.locator("#connection option").all_inner_texts()
    assert any("Marketing CC" in text for text in offered)
    assert not any("Private CC" in text for text in offered)  # not shared with contributors: not offered
    page.get_by_label("Export name").fill("Canada weekly")
    page.get_by_label("Connection", exact=True).select_option("Marketing CC")
    page.wait_for_selector("text=list(s) in this account.")
    page.get_by_label("Or type a list ID").fill("04fe9a97-a579-43c5-bb1a-58ed29bf0a6a")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("text=The connected Constant Contact account has no list")
    assert accessibility_problems(page) == []
    page.get_by_label("Or type a list ID").fill(list_id)
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("text=Found the list “Canadian customers”.")
    # A new list from the form: created in the account and chosen, and nothing typed is lost.
    page.get_by_label("Or create a list").fill("Ontario VIP")
    page.get_by_role("button", name="Create list").click()
    page.wait_for_selector("text=Created the list 'Ontario VIP'; it is chosen below.")
    created = {item["name"]: item["list_id"] for item in httpx.get(f"{emulator}/_emulator/lists").json()["lists"]}
    assert page.get_by_label("Choose a list").input_value() == created["Ontario VIP"]
    assert page.get_by_label("Export name").input_value() == "Canada weekly"
    # Back to the list wanted, found by searching its name.
    page.get_by_label("Search the lists").fill("canad")
    page.wait_for_selector("text=1 list(s) match “canad”.")
    page.get_by_label("Choose a list").select_option(list_id)
    page.wait_for_selector("text=Chosen: Canadian customers (0 members).")
    assert page.get_by_label("Or type a list ID").input_value() == list_id
    screenshot(page, "13-list-picker")
    assert accessibility_problems(page) == []
    page.get_by_label("Email (required)").select_option("email")
    page.get_by_role("button", name="Add attribute").click()
    page.get_by_label("First name").select_option("first")
    # More fields: a property and a custom field the account does not have yet, created on saving.
    page.get_by_label("Profile field, row 1").select_option("country")
    page.get_by_label("Contact property, row 1").fill("country")
    page.get_by_label("Profile field, row 2").select_option("orders")
    page.get_by_label("Contact property, row 2").fill("cf:order_count")
    page.get_by_role("button", name="More rows").click()
    assert page.get_by_label("Contact property, row 2").input_value() == "cf:order_count"  # kept
    assert page.get_by_label("Profile field, row 5").count() == 1
    page.get_by_label("Create missing custom fields in Constant Contact", exact=False).check()
    screenshot(page, "13-field-mapping")
    assert accessibility_problems(page) == []
    page.get_by_label(re.compile("Canadians")).check()
    screenshot(page, "13-export-form")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The export 'Canada weekly' is saved.")
    screenshot(page, "14-export-detail")

    page.get_by_role("button", name="Dry run").click()
    assert page.locator("#dry-run").inner_text().split()[:2] == ["Members", "16"]
    # Samples of each outcome, not only counts: the first rows it would add, and the ones it would skip, why.
    assert page.locator("table.samples[data-action=add] tbody tr").count() == 10
    skipped = page.locator("table.samples[data-action=skip] tbody tr").all_inner_texts()
    assert len(skipped) == 4 and all("not a valid email address" in row for row in skipped)
    assert accessibility_problems(page) == []
    screenshot(page, "15-dry-run")
    page.get_by_role("button", name="Run it now").click()
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    page.wait_for_selector("#progress .status.successful", timeout=60_000)  # the page follows the run live
    counts = {name: page.locator(f"[data-count={name}]").inner_text() for name in ("members", "sent", "invalid_email")}
    # Canadians (odd numbers) with orders >= 1: 16; every 10th + 3 has a broken address (3, 13, 23, 33).
    assert counts == {"members": "16", "sent": "12", "invalid_email": "4"}, counts
    screenshot(page, "16-run-successful")
    # The rows not sent, in the page: searched, then filtered by reason, with their count.
    assert page.locator("#rows-table tbody tr").count() == 4
    page.get_by_label("Profile key or email").fill("c13")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("text=Rows 1 to 1 of 1 holding “c13”.")
    assert page.locator("#rows-table tbody tr").first.inner_text().split("\t")[:2] == ["c13", "not an address"]
    page.get_by_role("link", name="Show every row").click()
    page.get_by_label("Reason").select_option("invalid_email")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("text=Rows 1 to 4 of 4 with the reason invalid email.")
    page.get_by_role("link", name="Show every row").click()
    page.goto(page.url.split("?")[0].split("#")[0] + "?per=3")  # pages of 3: the fourth row is on the next page
    page.wait_for_selector("text=Rows 1 to 3 of 4.")
    page.get_by_role("link", name="Next 3").click()
    page.wait_for_selector("text=Rows 4 to 4 of 4.")
    assert page.locator("#rows-table tbody tr").count() == 1
    page.get_by_role("link", name="Previous 3").click()
    page.wait_for_selector("text=Rows 1 to 3 of 4.")
    assert accessibility_problems(page) == []
    screenshot(page, "16-run-rows")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download rows not sent (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert sorted((row["profile_key"], row["reason"]) for row in rows) == [
        (key, "invalid_email") for key in ("c13", "c23", "c3", "c33")
    ]
    members = httpx.get(f"{emulator}/_emulator/lists/{list_id}/members").json()["members"]
    assert len(members) == 12 and {member["first_name"] for member in members} >= {"Zoë 1", "Zoë 39"}
    contact = httpx.get(f"{emulator}/_emulator/contacts/p39%40example.org").json()
    assert contact["properties"] == {"country": "CA", "cf:order_count": "4"}
    screenshot(cora.go("/runs"), "17-runs")
    page = cora.go("/exports")  # several exports at once: Keep or override schedules
    page.get_by_label("Choose Canada weekly").check()
    page.get_by_role("button", name="Schedule the chosen exports…").click()
    times = page.get_by_label("Times (HH:MM, one or more, comma-separated)")
    page.wait_for_load_state()
    assert not times.is_visible()  # a new schedule's fields show once it is chosen
    page.get_by_label("Give them all a new schedule:").check()
    page.get_by_label("Their own schedule, below").check()
    assert times.is_visible() and not page.get_by_label(re.compile("^Cron expression")).is_visible()
    times.fill("06:30")
    page.get_by_label("Time zone").fill("America/Toronto")
    screenshot(page, "20-schedule-many")
    page.get_by_role("button", name="Save schedules").click()
    page.wait_for_selector("text=Schedules saved for: Canada weekly.")
    assert "daily at 06:30 (America/Toronto)" in page.locator("#exports").inner_text()

    # --- alerts: a chat channel for the export (its contributor), email for the connection (an admin) ----------
    page = cora.go("/alerts")
    page.get_by_label("For", exact=True).select_option("export:Canada weekly")
    page.get_by_label("Chat (Slack format)").check()
    page.get_by_label("To: email addresses (comma-separated) or the webhook's URL").fill(site["hook"].url)
    page.get_by_role("button", name="Add alert").click()
    page.wait_for_selector("text=Alerts for the export Canada weekly go to http://127.0.0.1/…")
    assert "secret" not in page.locator("#channels").inner_text()  # the webhook's path is its password
    page.get_by_role("button", name="Send a test to http://127.0.0.1/… (export Canada weekly)").click()
    page.wait_for_selector("text=The test was sent to http://127.0.0.1/…")
    assert "A test from segport: alerts for the export Canada weekly" in site["hook"].received[-1]["text"]
    assert "segport: a test alert (test)" in page.locator("#sent").inner_text()
    assert accessibility_problems(page) == []
    page = admin.go("/alerts")
    page.get_by_label("For", exact=True).select_option("connection:Marketing CC")
    page.get_by_role("radio", name="Email").check()
    page.get_by_label("To: email addresses (comma-separated) or the webhook's URL").fill("not an address")
    page.get_by_role("button", name="Add alert").click()
    page.wait_for_selector("text='not' is not an email address.")
    page.get_by_label("To: email addresses (comma-separated) or the webhook's URL").fill("marketing@example.com")
    page.get_by_role("button", name="Add alert").click()
    page.get_by_role("button", name="Send a test to marketing@example.com (connection Marketing CC)").click()
    page.wait_for_selector("text=The test was sent to marketing@example.com.")
    assert site["inbox"].messages[-1]["To"] == "marketing@example.com"
    screenshot(page, "21-alerts")
    assert accessibility_problems(page) == []

    # An error after saving: the page's title says so, the field is marked and described, and has the focus.
    page = admin.go("/exports/new")
    page.get_by_label("Export name").fill("Needs a list")
    page.get_by_label("Connection", exact=True).select_option("Marketing CC")
    page.get_by_label(re.compile("Canadians")).check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#form-error")
    assert page.title().startswith("Error: Add export")
    marked = page.locator("#list_id")
    # The page's deferred script marks the field: wait for it (on a busy machine it runs after the error shows).
    expect(marked).to_be_focused(timeout=10_000)
    assert marked.get_attribute("aria-invalid") == "true"
    assert "form-error" in (marked.get_attribute("aria-describedby") or "").split()
    assert page.evaluate("document.activeElement.id") == "list_id"
    assert "No Constant Contact list was chosen." in page.locator("#form-error").inner_text()
    assert accessibility_problems(page) == []

    # --- the viewer: reads everything, changes nothing ------------------------------------------------------
    vic = Visitor(site, "vic")
    vic.sign_in()
    page = vic.go("/exports")
    assert page.get_by_role("link", name="Add export").count() == 0
    assert page.locator("#exports td").nth(5).inner_text() == "View"
    page = vic.go("/exports/Canada%20weekly")
    for control in ("Run", "Dry run", "Edit", "Schedule", "Remove…", "Duplicate"):
        assert page.get_by_role("button", name=control, exact=True).count() == 0
        assert page.get_by_role("link", name=control, exact=True).count() == 0
    screenshot(page, "18-viewer-export")
    run_link = page.locator("table.runs a").first
    run_link.click()
    assert page.get_by_role("button", name="Cancel run").count() == 0
    assert page.get_by_role("link", name=re.compile("Download rows")).count() == 0
    assert vic.go("/segments").get_by_role("link", name="New segment").count() == 0
    refused = vic.go("/exports/Canada%20weekly/edit")  # the server refuses what the page does not offer
    assert "A viewer cannot do this." in refused.get_by_role("alert").inner_text()
    assert vic.go("/users").get_by_role("alert").inner_text().startswith("A viewer cannot do this.")
    narrow = Visitor(site, "vic", width=390)
    narrow.sign_in()
    screenshot(narrow.go("/exports"), "19-narrow-window")

    # --- sign-out ends the session --------------------------------------------------------------------------
    page = cora.go("/exports")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(base + "/sign-in")
    assert "/sign-in" in cora.go("/runs").url

    for visitor in (admin, cora, vic, narrow):
        visitor.close()


PAGES = ("/exports", "/exports/new", "/segments", "/segments/new", "/profiles", "/runs", "/connections",
         "/schedule", "/users", "/audit", "/alerts")  # fmt: skip
# The first detail page linked from these lists (when the walk above made one): export, segment, run, connection.
DETAILS = (
    ("/exports", "/exports/"),
    ("/segments", "/segments/"),
    ("/runs", "/runs/"),
    ("/connections", "/connections/"),
)


@pytest.mark.parametrize("width", [1280, 320], ids=["wide", "phone"])
def test_every_page_meets_wcag_21_aa(site: dict[str, Any], width: int) -> None:
    """axe-core on every page an admin sees, on a wide screen and the narrowest phone: no serious or critical
    violation, and no page scrolls sideways (wide tables scroll inside their own region)."""
    admin = Visitor(site, "ada", width=width)
    admin.sign_in()
    paths = list(PAGES)
    for listing, prefix in DETAILS:
        page = admin.go(listing)
        links = [
            href
            for href in page.locator(f"main a[href^='{prefix}']").evaluate_all(
                "nodes => nodes.map(n => n.getAttribute('href'))"
            )
            if re.fullmatch(re.escape(prefix) + r"[^/?#]+", href) and not href.endswith("/new")
        ]
        paths += links[:1]
        paths += [f"{links[0]}/edit"] if links and prefix in ("/exports/", "/segments/") else []
    problems = []
    for path in paths:
        page = admin.go(path)
        page.wait_for_load_state("networkidle")
        problems += accessibility_problems(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems.append(f"{path}: the page scrolls sideways by {overflow} px at {width} px")
    admin.close()
    assert problems == [], "\n".join(problems)
