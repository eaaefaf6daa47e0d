"""Numbers beyond what the store keeps (a 64-bit id, a cursor, a count of days) sent to every route that takes
one: a clear refusal or "not found", never a server error (SQLite's driver raised OverflowError at them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, csrf_token, signed_in

BEYOND_64_BITS = 2**64
TOO_MANY_DAYS = 10**12  # beyond what a date can be moved by


def _integer_routes(routes: list[Any]) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """(method, path, its integer path parameters, its integer query parameters) of every route."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        if included is not None:
            yield from _integer_routes(included.routes)
        if not isinstance(route, APIRoute):
            continue
        in_path = [parameter.name for parameter in route.dependant.path_params if _is_integer(parameter)]
        in_query = [parameter.name for parameter in route.dependant.query_params if _is_integer(parameter)]
        if in_path or in_query:
            for method in sorted(route.methods):
                yield method, route.path, in_path, in_query


def _is_integer(parameter: Any) -> bool:
    annotation = parameter.field_info.annotation
    return annotation is int or int in getattr(annotation, "__args__", ())  # int, or int | None


@pytest.fixture
def served(app: App, tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    app.exports_on_shared_and_private(tmp_path)
    users.add_user(app.store, name="admin", role="admin", actor="t", password=PASSWORD)
    token = users.issue_token(app.store, name="admin", label="huge", actor="t")[1]
    web_app = create_app(app.settings, app.store, app.http)
    with serving_app(web_app) as base:
        yield web_app, base, token


def test_every_route_refuses_a_number_beyond_64_bits_without_a_server_error(served: tuple[Any, str, str]) -> None:
    """Each integer parameter alone out of range: a path's id (its queries left out), then each query with the
    path's ids set to 1 (the first run, export... of the fixture), so a query's own check is reached. The API
    answers 4xx (problem details naming the parameter); a page answers 4xx or shows itself."""
    web_app, base, token = served
    failures: list[str] = []
    tried = 0
    with signed_in(base, "admin") as client:
        csrf = csrf_token(client)
        for method, template, in_path, in_query in _integer_routes(web_app.routes):
            cases = [(dict.fromkeys(in_path, BEYOND_64_BITS), {})] if in_path else []
            for query in in_query:
                cases.append((dict.fromkeys(in_path, 1), {query: TOO_MANY_DAYS if query == "days" else BEYOND_64_BITS}))
            for ids, params in cases:
                path = template
                for name, value in ids.items():
                    path = path.replace(f"{{{name}}}", str(value))
                path = path.replace("{", "").replace("}", "")  # any other parameter: a name that is not there
                headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
                data = {"csrf_token": csrf} if method == "POST" and not path.startswith("/api/") else None
                tried += 1
                try:
                    answer = client.request(method, path, params=params, headers=headers, data=data)
                except httpx.TransportError as error:  # the server dropped the connection mid-answer
                    failures.append(f"{method} {path} {params}: {type(error).__name__}")
                    continue
                # The API refuses; a page may also show itself without the number (a run page without rows to
                # page through ignores the offset).
                refused = 400 <= answer.status_code < 500
                if not (refused or (answer.status_code == 200 and not path.startswith("/api/"))):
                    failures.append(f"{method} {path} {params}: {answer.status_code} {answer.text[:200]}")
    assert tried >= 30
    assert not failures, "\n".join(failures)


def test_the_refusal_names_the_number_and_its_bound(served: tuple[Any, str, str]) -> None:
    _web_app, base, token = served
    bound = "less than or equal to 9223372036854775807"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        answer = client.get(f"/api/runs/{BEYOND_64_BITS}")
        assert answer.status_code == 422
        assert answer.json()["fields"] == [{"field": "path.run_id", "problem": f"Input should be {bound}"}]
        answer = client.get("/api/runs/1/rows", params={"offset": BEYOND_64_BITS})
        assert answer.status_code == 422
        assert "starts at 0 to 9,223,372,036,854,775,807" in answer.json()["detail"]
    with signed_in(base, "admin") as client:
        answer = client.get(f"/runs/{BEYOND_64_BITS}")
        assert answer.status_code == 422
        assert f"Check run_id: Input should be {bound}." in answer.text
