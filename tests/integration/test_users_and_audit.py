"""Users, roles, API tokens and the audit trail (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from segport import audit
from segport.clock import as_utc
from segport.errors import InvalidInput, Refused, UnknownName
from segport.exports import service as exports
from segport.segments.service import create_segment, set_active
from segport.store.tables import api_tokens
from segport.store.tables import users as users_table
from segport.users import passwords
from segport.users import service as users
from tests.support.app import App


def test_tokens_are_shown_once_stored_as_digests_and_revocable(app: App) -> None:
    users.add_user(app.store, name="ada", role="admin", actor="setup")
    issued, plain = users.issue_token(app.store, name="ada", label="laptop", actor="ada")
    assert plain.startswith("sp_") and len(plain) > 40
    with app.store.begin() as db:
        stored = db.execute(select(api_tokens.c.digest)).scalars().all()
    assert plain not in stored and users.digest(plain) in stored
    user = users.authenticate(app.store, plain)
    assert user is not None and (user.name, user.role) == ("ada", "admin")
    first_use = users.list_tokens(app.store, name="ada")[0].last_used_at
    assert first_use is not None
    assert users.authenticate(app.store, plain) is not None
    assert users.list_tokens(app.store, name="ada")[0].last_used_at == first_use  # not rewritten within the minute
    with app.store.begin() as db:
        db.execute(update(api_tokens).values(last_used_at=first_use - timedelta(minutes=2)))
    assert users.authenticate(app.store, plain) is not None
    last_used = users.list_tokens(app.store, name="ada")[0].last_used_at
    assert last_used is not None and as_utc(last_used) > as_utc(first_use)
    assert users.authenticate(app.store, plain + "x") is None
    assert users.authenticate(app.store, "not-a-token") is None
    users.revoke_token(app.store, token_id=issued.id, actor="ada")
    assert users.authenticate(app.store, plain) is None


def test_roles_are_checked_and_the_last_admin_stays(app: App) -> None:
    with pytest.raises(InvalidInput, match="not a role"):
        users.add_user(app.store, name="bob", role="owner", actor="t")
    users.add_user(app.store, name="ada", role="admin", actor="t")
    with pytest.raises(Refused, match="already exists"):
        users.add_user(app.store, name="ada", role="viewer", actor="t")
    with pytest.raises(Refused, match="only admin"):
        users.remove_user(app.store, name="ada", actor="t")
    users.add_user(app.store, name="cy", role="contributor", actor="ada")
    users.remove_user(app.store, name="cy", actor="ada")
    with pytest.raises(UnknownName):
        users.show_user(app.store, name="cy")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        # PostgreSQL refused it at the insert: "The database refused an operation (StringDataRightTruncation)".
        ("u" * 256, "at most 255 characters"),
        ("ops/ada", "cannot hold '/'"),  # the API's addresses name users
        ("ada\nroot", "control characters"),
        ("\u202enimda", "reorder the text shown"),  # shown as "admin" in the audit trail
    ],
)
def test_a_user_name_too_long_or_unfit_for_an_address_is_refused_with_the_fix(app: App, name: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        users.add_user(app.store, name=name, role="viewer", actor="t")
    assert refused.value.field == "name"
    assert users.add_user(app.store, name="u" * 255, role="viewer", actor="t").name == "u" * 255


def test_a_token_label_too_long_is_refused_and_a_blank_one_is_named_token(app: App) -> None:
    """The API's model limits the label; the CLI's did not, and PostgreSQL refused 300 characters at the insert."""
    users.add_user(app.store, name="bob", role="viewer", actor="t")
    with pytest.raises(InvalidInput, match="at most 255 characters") as refused:
        users.issue_token(app.store, name="bob", label="l" * 256, actor="t")
    assert refused.value.field == "label"
    assert users.list_tokens(app.store, name="bob") == []
    assert users.issue_token(app.store, name="bob", label="  ", actor="t")[0].label == "token"
    assert users.issue_token(app.store, name="bob", label="l" * 255, actor="t")[0].label == "l" * 255


def test_a_password_hashed_at_a_lower_cost_signs_in_and_is_hashed_again_at_the_current_cost(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "COST", 2**10)
    users.add_user(app.store, name="ada", role="admin", actor="t", password="an old long password")
    monkeypatch.setattr(passwords, "COST", 2**11)  # raised since (in segport, by an upgrade)
    assert _password_hash(app, "ada").startswith("scrypt$1024$")
    assert users.check_password(app.store, name="ada", password="wrong password here") is None
    assert _password_hash(app, "ada").startswith("scrypt$1024$")  # a wrong password changes nothing
    signed_in = users.check_password(app.store, name="ada", password="an old long password")
    assert signed_in is not None and signed_in.name == "ada"
    assert _password_hash(app, "ada").startswith("scrypt$2048$")
    assert users.check_password(app.store, name="ada", password="an old long password") is not None


def _password_hash(app: App, name: str) -> str:
    with app.store.begin() as db:
        return str(db.execute(select(users_table.c.password_hash).where(users_table.c.name == name)).scalar_one())


def test_changes_consents_and_runs_are_in_the_audit_trail(app: App, tmp_path: object) -> None:
    app.connect("CC")
    app.load_profiles(tmp_path, 10)  # type: ignore[arg-type]
    create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="ada")
    set_active(app.store, name="All", active=False, actor="ada")
    set_active(app.store, name="All", active=True, actor="ada")
    app.add_export("E", "CC", ["All"], actor="cy")
    from segport.exports.launch import run_export

    run_export(app.store, app.settings, name="E", actor="cy", http=app.http)
    exports.remove_export(app.store, name="E", actor="ada")
    trail = [(entry.actor, entry.action, entry.subject) for entry in reversed(audit.entries(app.store))]
    assert trail == [
        ("tester", "consent.given", "CC"),
        ("tester", "connection.created", "CC"),
        ("tester", "profiles.imported", "profiles-10-7.csv"),
        ("ada", "segment.created", "All"),
        ("ada", "segment.deactivated", "All"),
        ("ada", "segment.activated", "All"),
        ("cy", "export.created", "E"),
        ("cy", "run.queued", "E"),
        ("ada", "export.removed", "E"),
    ]
    assert [entry.action for entry in audit.entries(app.store, action="segment.")] == [
        "segment.activated",
        "segment.deactivated",
        "segment.created",
    ]


def test_serve_says_at_start_which_users_cannot_sign_in_to_the_web_ui(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    from segport.cli.scheduling import _first_admin

    users.add_user(app.store, name="old", role="viewer", actor="t")  # as users made before passwords existed
    users.add_user(app.store, name="new", role="admin", actor="t", password="a long enough passphrase 1")
    _first_admin(app.store)
    said = capsys.readouterr().out
    assert "1 user(s) cannot sign in to the web UI" in said and "old" in said and "new" not in said
    assert "segport users password NAME" in said
    users.set_password(app.store, name="old", password="another long passphrase 2", actor="t")
    _first_admin(app.store)
    assert capsys.readouterr().out == ""


def test_a_password_that_is_not_utf8_text_is_refused_with_the_fix(app: App) -> None:
    """Bytes from a pipe in another encoding reach Python as surrogates: hashing them raised UnicodeEncodeError."""
    users.add_user(app.store, name="dee", role="viewer", actor="t")
    with pytest.raises(InvalidInput, match="not UTF-8 text") as refused:
        users.set_password(app.store, name="dee", password="a long enough \udcff password", actor="t")
    assert "UTF-8" in refused.value.hint
