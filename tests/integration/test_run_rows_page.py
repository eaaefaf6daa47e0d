"""The rows a run did not send, a page at a time: searched, filtered by reason, paged, in the service, the API
and the run page; and what each says of a bad search, an unknown reason, a page out of range, a viewer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segport.errors import InvalidInput
from segport.runs.history import iter_rows_not_sent
from segport.runs.rows import rows_page
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.exporting import ExportWorld
from tests.support.server import serving_app
from tests.support.web import PASSWORD, signed_in


@pytest.fixture
def ran(app: App, tmp_path: Path) -> tuple[App, int]:
    app.connect("CC")
    world = ExportWorld(app, tmp_path, count=300, threshold=100)
    view = world.run()
    assert view.status == "Successful", view.message
    return app, view.id


def test_pages_cover_every_row_once_in_the_runs_order(ran: tuple[App, int]) -> None:
    app, run_id = ran
    everything = [row[0] for row in iter_rows_not_sent(app.store, run_id=run_id)]
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = rows_page(app.store, run_id=run_id, offset=offset, limit=4)
        assert page.total == len(everything)
        seen += [row["profile_key"] for row in page.rows]
        offset = page.next_offset
    assert seen == everything and len(everything) > 8
    assert page.previous_offset is not None and page.last_shown == len(everything)


def test_a_reason_and_a_search_narrow_the_rows_and_the_counts_say_how_many(ran: tuple[App, int]) -> None:
    app, run_id = ran
    page = rows_page(app.store, run_id=run_id, reason="duplicate")
    expected = [row for row in iter_rows_not_sent(app.store, run_id=run_id) if row[2] == "duplicate"]
    assert [row["profile_key"] for row in page.rows] == [row[0] for row in expected]
    assert page.total == len(expected) == page.reasons["duplicate"]
    assert set(page.reasons) == {"duplicate", "invalid_email"}
    found = rows_page(app.store, run_id=run_id, search="K0036")  # any case
    assert [row["profile_key"] for row in found.rows] == ["k0036"] and found.total == 1
    by_email = rows_page(app.store, run_id=run_id, search="BROKEN 73@", reason="invalid_email")
    assert [row["email"] for row in by_email.rows] == ["broken 73@example"]


def test_wildcards_typed_in_a_search_are_looked_for_as_such(ran: tuple[App, int]) -> None:
    app, run_id = ran
    assert rows_page(app.store, run_id=run_id, search="%").total == 0
    assert rows_page(app.store, run_id=run_id, search="k00_6").total == 0


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"reason": "sunspots"}, "no rows with the reason 'sunspots'"),
        ({"limit": 0}, "1 to 500 rows"),
        ({"limit": 501}, "1 to 500 rows"),
        ({"offset": -1}, "1 to 500 rows"),
        ({"search": "x" * 201}, "longer than 200"),
    ],
)
def test_a_page_that_cannot_be_shown_is_named(ran: tuple[App, int], options: dict[str, object], complaint: str) -> None:
    app, run_id = ran
    with pytest.raises(InvalidInput, match=complaint):
        rows_page(app.store, run_id=run_id, **options)  # type: ignore[arg-type]


@pytest.fixture
def site(ran: tuple[App, int]) -> Iterator[tuple[str, int]]:
    app, run_id = ran
    for name, role in (("ada", "admin"), ("vic", "viewer")):
        users.add_user(app.store, name=name, role=role, actor="t", password=PASSWORD)
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base, run_id


def test_the_run_page_shows_searches_and_pages_the_rows(site: tuple[str, int]) -> None:
    base, run_id = site
    with signed_in(base, "ada") as client:
        page = client.get(f"/runs/{run_id}").text
        assert 'id="rows-table"' in page and "k0036" in page
        filtered = client.get(f"/runs/{run_id}", params={"reason": "duplicate"}).text
        assert "invalid email" not in filtered.split('id="rows-table"')[1].split("</table>")[0]
        searched = client.get(f"/runs/{run_id}", params={"search": "k0036"}).text
        assert re.search(r"Rows 1 to 1 of 1\b", searched)
        nothing = client.get(f"/runs/{run_id}", params={"search": "nobody-here"}).text
        assert "No row matches" in nothing and 'id="rows-table"' not in nothing
        wrong = client.get(f"/runs/{run_id}", params={"reason": "sunspots"})
        assert wrong.status_code == 200 and "no rows with the reason" in wrong.text and 'id="rows-table"' in wrong.text
    with signed_in(base, "vic", PASSWORD) as viewer:  # emails: not for viewers
        assert 'id="rows-table"' not in viewer.get(f"/runs/{run_id}").text


def test_the_api_pages_the_rows_for_those_who_manage_the_export(ran: tuple[App, int], site: tuple[str, int]) -> None:
    app, run_id = ran
    base, _ = site
    tokens = {name: users.issue_token(app.store, name=name, label="t", actor="t")[1] for name in ("ada", "vic")}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['ada']}"}) as api:
        answer = api.get(f"/api/runs/{run_id}/rows", params={"reason": "invalid_email", "limit": 2})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["rows"]) == 2 and page["next_offset"] == 2
        assert page["total"] == page["reasons"]["invalid_email"]
        assert set(page["rows"][0]) == {"profile_key", "email", "reason", "detail"}
        refused = api.get(f"/api/runs/{run_id}/rows", params={"limit": 9999})
        assert refused.status_code == 422 and "1 to 500 rows" in refused.json()["detail"]
        assert api.get("/api/runs/999999/rows").status_code == 404
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['vic']}"}) as viewer:
        assert viewer.get(f"/api/runs/{run_id}/rows").status_code == 403
