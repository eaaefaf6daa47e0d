"""A run waiting out the daily quota says so on its page, in the progress the page polls, and in the API: what
it waits for and until when; once it resumes, the notice is gone."""

from __future__ import annotations

from pathlib import Path

from segport.runs.history import run_progress
from segport.server.app import create_app
from segport.users import service as users
from tests.integration.test_run_failures import expire_parked
from tests.support.app import App
from tests.support.exporting import QUICK, ExportWorld
from tests.support.server import serving_app
from tests.support.web import PASSWORD, signed_in


def test_a_parked_run_shows_what_it_waits_for_until_it_resumes(app: App, tmp_path: Path) -> None:
    quick = app.reopen(batch_max_contacts=50, **QUICK)
    quick.connect("CC")
    users.add_user(quick.store, name="ada", role="admin", actor="t", password=PASSWORD)
    world = ExportWorld(quick, tmp_path)
    quick.emulator.faults.add("imports#3=quota")
    parked = world.run()
    assert parked.status == "Queued" and parked.waiting_text is not None
    assert parked.waiting_text.startswith("Parked until the daily request quota resets; it resumes by itself, until")
    assert "resumes by itself after the quota resets at" in parked.waiting_text  # the run's own detail follows
    assert run_progress(quick.store, run_id=parked.id)["waiting_text"] == parked.waiting_text
    with serving_app(create_app(quick.settings, quick.store, quick.http)) as base, signed_in(base, "ada") as client:
        page = client.get(f"/runs/{parked.id}").text
        assert 'data-field="waiting">Parked until the daily request quota resets' in page
        expire_parked(quick, parked.id)
        assert world.run().status == "Successful"
        page = client.get(f"/runs/{parked.id}").text
        assert 'data-field="waiting" hidden></p>' in page
