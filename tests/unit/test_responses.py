import pytest

from segport.constant_contact.responses import RULES, Action, parse_error_body, rule_for
from segport.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ReauthorizationRequired,
    RequestRejected,
    TransientError,
    UnexpectedResponse,
)

EXPECTED = {
    (400, "*"): (Action.REJECT, BadRequest),
    (401, "*"): (Action.REAUTHORIZE, ReauthorizationRequired),
    (403, "*"): (Action.REJECT, PermissionDenied),
    (404, "*"): (Action.REJECT, NotFound),
    (405, "*"): (Action.FAIL, UnexpectedResponse),
    (409, "*"): (Action.REJECT, Conflict),
    (415, "*"): (Action.REJECT, RequestRejected),
    (429, "throttled"): (Action.RETRY, TransientError),
    (429, "quota_exceeded"): (Action.WAIT_FOR_QUOTA, QuotaExceeded),
    (429, "*"): (Action.WAIT_FOR_QUEUE, TransientError),
    (500, "*"): (Action.RETRY_IF_REPLAY_SAFE, UnexpectedResponse),
    (502, "*"): (Action.RETRY, TransientError),
    (503, "*"): (Action.RETRY, TransientError),
    (504, "*"): (Action.RETRY, TransientError),
}


def test_the_table_holds_exactly_the_rules_we_test() -> None:
    assert {(rule.status, rule.error_key) for rule in RULES} == set(EXPECTED)


@pytest.mark.parametrize(("status", "key"), sorted(EXPECTED))
def test_every_row_decides_its_action(status: int, key: str) -> None:
    action, error = EXPECTED[(status, key)]
    rule = rule_for(status, None if key == "*" else key)
    assert rule.action is action
    assert rule.error is error


def test_a_specific_key_wins_over_the_status_row_and_an_unknown_key_falls_back_to_it() -> None:
    assert rule_for(429, "throttled").action is Action.RETRY
    assert rule_for(429, "something.new").action is Action.WAIT_FOR_QUEUE
    assert rule_for(404, "contacts.api.not_found").error is NotFound


@pytest.mark.parametrize("status", [302, 408, 418, 422, 501, 599])
def test_answers_without_a_rule_fail_loudly(status: int) -> None:
    assert rule_for(status, None).action is Action.FAIL


def test_error_bodies_are_read_as_an_object() -> None:
    body = parse_error_body(b'{"error_key":"throttled","error_message":"Too Many Requests"}')
    assert (body.error_key, body.error_message) == ("throttled", "Too Many Requests")


def test_error_bodies_are_read_as_an_array_joining_the_messages() -> None:
    body = parse_error_body(
        b'[{"error_key":"contacts.api.not_found","error_message":"contact_id is in an invalid format."},'
        b'{"error_key":"other","error_message":"second"}]'
    )
    assert body.error_key == "contacts.api.not_found"
    assert body.error_message == "contact_id is in an invalid format.; second"


def test_oauth_error_bodies_and_non_json_bodies_are_read_too() -> None:
    oauth = parse_error_body(
        b'{"error":"invalid_grant","error_description":"The refresh token is invalid or expired."}'
    )
    assert oauth.error_key == "invalid_grant"
    html = parse_error_body(b"<html>Bad Gateway</html>")
    assert html.error_key is None and html.error_message == "<html>Bad Gateway</html>"
    assert parse_error_body(b"") == parse_error_body(b"null")
