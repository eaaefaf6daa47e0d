"""Admin > Permissions: users and roles, passwords, API tokens (shown once), and the audit trail."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from segport import audit
from segport.errors import SegportError, UnknownName
from segport.server.params import Id
from segport.users import service as users
from segport.users.service import ROLES
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, StoreDep, allow

router = APIRouter(include_in_schema=False)


def _show(request: Request, session: PageSession, store: StoreDep, status_code: int = 200, **extra: object) -> Response:
    return render(
        request,
        "users.html",
        session,
        status_code=status_code,
        users=users.list_users(store),
        tokens=users.list_tokens(store),
        roles=ROLES,
        **extra,
    )


@router.get("/users")
def page(request: Request, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin")
    return _show(request, session, store)


@router.post("/users")
def add(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    name = posted.text("name")
    try:
        users.add_user(
            store,
            name=name,
            role=posted.text("role"),
            password=posted.optional("password"),
            actor=posted.session.user.name,
        )
    except SegportError as error:
        return _show(request, posted.session, store, status_code=400, error=error, adding=name)
    add_notice(store, posted.session, "success", f"Added {name!r}.")
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/{action}")
def act(request: Request, name: str, action: str, posted: Post, store: StoreDep) -> Response:
    """role, password, token, remove."""
    allow(posted.session, "admin")
    actor = posted.session.user.name
    try:
        if action == "role":
            changed = users.set_role(store, name=name, role=posted.text("role"), actor=actor)
            add_notice(store, posted.session, "success", f"{name!r} is now {changed.role}.")
        elif action == "password":
            users.set_password(store, name=name, password=posted.text("password"), actor=actor)
            add_notice(
                store,
                posted.session,
                "success",
                f"The password of {name!r} is set; their web sessions ended. Their API tokens still work: revoke "
                "below any that someone else may know.",
            )
        elif action == "token":
            issued, plain = users.issue_token(store, name=name, label=posted.text("label") or "web", actor=actor)
            # Shown once, in this response only (not in a notice, which would be stored).
            return _show(request, posted.session, store, new_token={"user": name, "id": issued.id, "token": plain})
        elif action == "remove":
            users.remove_user(store, name=name, actor=actor)
            add_notice(store, posted.session, "success", f"Removed {name!r} and their tokens.")
        else:
            raise UnknownName(f"There is no user action {action!r}.", hint="Use the buttons on the Users page.")
    except SegportError as error:
        return _show(request, posted.session, store, status_code=400, error=error)
    if action == "remove" and name == actor:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse("/users#user-" + quote(name, safe=""), status_code=303)


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: Id, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    users.revoke_token(store, token_id=token_id, actor=posted.session.user.name)
    add_notice(store, posted.session, "success", f"Token {token_id} is revoked.")
    return RedirectResponse("/users#tokens", status_code=303)


@router.get("/audit")
def audit_page(
    request: Request, session: PageSession, store: StoreDep, action: str = "", subject: str = ""
) -> Response:
    allow(session, "admin")
    entries = audit.entries(store, limit=500, action=action or None, subject=subject or None)
    return render(request, "audit.html", session, entries=entries, action=action, subject=subject)
