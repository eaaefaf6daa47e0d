"""Property-based requests over segport's own OpenAPI document (Schemathesis): no input makes a 5xx.

Every operation gets generated path parameters, queries and bodies, sent as an admin to a live API over a
store with a connection, profiles, a segment and an export, so that most requests reach the domain code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from segport.api.app import create_app
from segport.segments.service import create_segment
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app


def test_no_generated_request_makes_a_server_error(app: App, tmp_path: Path) -> None:
    if app.settings.database_url is not None:
        pytest.skip("fuzzed once, on SQLite: the routes and their code are the same on PostgreSQL")
    app.connect("CC", allow_contributors=True)
    app.load_profiles(tmp_path, 20)
    create_segment(app.store, name="Everyone", rule_text="customer_id is not empty", actor="t")
    app.add_export("E", "CC", ["Everyone"])
    users.add_user(app.store, name="ada", role="admin", actor="t")
    token = users.issue_token(app.store, name="ada", label="fuzz", actor="t")[1]
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = 0
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def no_server_error(case: Any) -> None:
                response = case.call(headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text}")

            no_server_error()
    assert operations >= 40  # every route of the document was exercised
    assert not failures, "\n".join(failures[:20])
