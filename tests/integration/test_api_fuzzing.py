"""Property-based requests over segport's own OpenAPI document (Schemathesis): no input makes a 5xx, and
every answer matches what its route declares (its status's schema and content type).

Every operation gets generated path parameters, queries and bodies, sent as an admin to a live API over a
store with a connection, profiles, a segment and an export, so that most requests reach the domain code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from segport.segments.service import create_segment
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_no_generated_request_makes_a_server_error_or_an_undeclared_answer(app: App, tmp_path: Path) -> None:
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
            def as_declared(case: Any) -> None:
                response = case.call(headers=headers, timeout=30)
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, FailureGroup) as failed:  # one failure, or several grouped
                    found = f"{case.method} {case.formatted_path}: {response.status_code} {str(failed)[:600]}"
                    failures.append(found)

            as_declared()
    assert operations >= 40  # every route of the document was exercised
    assert not failures, "\n".join(failures[:20])


def test_every_route_declares_what_it_answers(app: App) -> None:
    # A JSON answer is a named model (a $ref, or an array of them), never a free-form object; other answers name
    # their media type (CSV, the metrics' text, the sign-in's HTML page) or have no body (204).
    document = create_app(app.settings, app.store, app.http).openapi()
    free = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = answer.get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if schema is None:
                    if not set(content) & {"text/csv", "text/plain", "text/html"}:
                        free.append(f"{method.upper()} {path} {status}: no content declared")
                    continue
                if "$ref" not in schema and "$ref" not in schema.get("items", {}):
                    free.append(f"{method.upper()} {path} {status}: {schema.get('title', schema)}")
    assert free == [], "\n".join(free)
    assert document["components"]["securitySchemes"]["API token"]["scheme"] == "bearer"
