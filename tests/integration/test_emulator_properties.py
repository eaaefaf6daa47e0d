"""The official spec's own property tests against the emulator (Schemathesis over swagger.yaml).

Every operation the emulator serves gets generated requests, sent over a socket with a token from the OAuth
flow: valid ones (by the spec's schemas) must get no 5xx and an answer that matches the spec (body schema,
content type, a documented status); invalid ones must get a 4xx. The spec's known defects are patched first,
each with its reason (the contract test's OVERRIDES, and the one below).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from segport.clock import SystemClock
from segport.emulator import Emulator, EmulatorSettings, v3
from tests.support.contract import OVERRIDES, SPEC_PATH, _set
from tests.support.harness import connect
from tests.support.server import serving

EXAMPLES = 60  # per operation and mode: about 1,800 requests on the 15 operations, 60 s of CPU
VALID_CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
INVALID_CHECKS = [not_a_server_error, negative_data_rejection]
# Operations whose only input is a path id without format or pattern: there is nothing invalid to send.
NOTHING_TO_VIOLATE = {"getActivity", "getContactsExport"}


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    for where, key, value, _reason in OVERRIDES:
        _set(spec["definitions"], where, key, value)
    # The export file operation declares only text/csv, but its errors (an unknown id: 404) come as the JSON
    # error array every other operation documents; a client must read them as JSON.
    spec["paths"]["/contact_exports/{file_export_id}"]["get"]["produces"] = ["text/csv", "application/json"]
    return spec


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str]]:
    # Rate limits off: this test is about the shapes of answers, and the limits have their own tests.
    emulator = Emulator(EmulatorSettings(requests_per_second=None, requests_per_day=None))
    with serving(emulator) as base, httpx.Client() as http:
        harness = connect(http, base, SystemClock())
        harness.client.create_list("Present")  # so that some list reads find something
        yield base, harness.keeper.tokens.access_token.get_secret_value()


def test_every_operation_the_emulator_serves_is_in_the_spec_with_the_scope_it_declares() -> None:
    spec = _spec()
    declared: dict[str, tuple[str, str, set[str]]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                scopes = {
                    scope for rule in operation.get("security", []) for scope in rule.get("oauth2_access_code", [])
                }
                declared[operation["operationId"]] = (method.upper(), "/v3" + path, scopes)
    for method, pattern, operation_id, _handler in v3.ROUTES:
        assert operation_id in declared, f"{operation_id} is not an operation of the spec"
        spec_method, spec_path, scopes = declared[operation_id]
        assert method == spec_method and pattern.match(spec_path.replace("{", "").replace("}", "")), operation_id
        assert scopes == {v3.SCOPES[operation_id]}, f"{operation_id}: the spec declares {scopes}"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_answers_the_spec_allows(served: tuple[str, str], mode: GenerationMode) -> None:
    base, token = served
    served_operations = {operation_id for _, _, operation_id, _ in v3.ROUTES}
    run = Run(f"{base}/v3", {"Authorization": f"Bearer {token}"}, mode)
    for result in schemathesis.openapi.from_dict(_spec()).get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in served_operations:
            run.exercise(operation)
    exercised = {operation_id for operation_id, _ in run.statuses}
    assert exercised | run.unsatisfiable == served_operations
    assert run.unsatisfiable <= NOTHING_TO_VIOLATE
    assert not run.failures, "\n\n".join(run.failures.values())[:6000]
    if mode == GenerationMode.POSITIVE:
        # The valid requests reached the operations' work, not only their refusals.
        succeeded = {operation_id for (operation_id, status) in run.statuses if status < 300}
        assert {"getAccountById", "getLists", "createList", "getContacts", "postContactsExport"} <= succeeded


@dataclass
class Run:
    base_url: str
    headers: dict[str, str]
    mode: GenerationMode
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    unsatisfiable: set[str] = field(default_factory=set)

    def exercise(self, operation: Any) -> None:
        operation_id = str(operation.definition.raw["operationId"])
        checks = VALID_CHECKS if self.mode == GenerationMode.POSITIVE else INVALID_CHECKS

        @given(case=operation.as_strategy(generation_mode=self.mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests on every run: CI does not fail on a new draw
            suppress_health_check=list(HealthCheck),
        )
        def answered_as_documented(case: Any) -> None:
            response = case.call(base_url=self.base_url, headers=self.headers, timeout=30)
            self.statuses[(operation_id, response.status_code)] += 1
            try:
                case.validate_response(response, checks=checks)
            except BaseException as failure:  # Schemathesis raises an exception group: collected, named below
                self.failures.setdefault(
                    (operation_id, type(failure).__name__), f"{case.method} {case.path}: {failure}"
                )

        try:
            answered_as_documented()
        except Unsatisfiable:
            self.unsatisfiable.add(operation_id)
