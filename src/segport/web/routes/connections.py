"""Admin > Connections: the list, the Add connection wizard, edit, reauthorize and remove."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from segport.connections import service as connections
from segport.connections import web_sign_in
from segport.errors import InvalidInput, SegportError
from segport.exports import service as exports
from segport.permissions import can_use
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, SettingsDep, StoreDep, allow

router = APIRouter(include_in_schema=False)
KINDS = {connections.CONSTANT_CONTACT: "Constant Contact"}


def _page(name: str) -> str:
    return f"/connections/{quote(name, safe='')}"


@router.get("/connections")
def list_page(request: Request, session: PageSession, store: StoreDep) -> Response:
    rows = [{"view": view, "usable": can_use(session.user, view)} for view in connections.list_connections(store)]
    return render(request, "connections/list.html", session, rows=rows, kinds=KINDS)


@router.get("/connections/new")
def new_page(request: Request, session: PageSession) -> Response:
    allow(session, "admin")
    values = {"kind": connections.CONSTANT_CONTACT, "name": "", "allow_contributors": False, "agreed": False}
    return render(request, "connections/new.html", session, values=values, terms=connections.PRIVACY_TEXT, kinds=KINDS)


@router.post("/connections/new")
def new_submit(request: Request, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    allow(posted.session, "admin")
    values = {
        "kind": posted.text("kind"),
        "name": posted.text("name"),
        "allow_contributors": posted.text("who") == "contributors",
        "agreed": posted.checked("agreed"),
    }
    try:
        if values["kind"] not in KINDS:
            raise InvalidInput("Choose the connection's type.", hint="segport connects to Constant Contact.")
        if not values["agreed"]:
            raise InvalidInput(
                "The data privacy and compliance terms were not accepted.",
                hint="Read them under “3. Data privacy and compliance” and tick “I agree” to go on.",
            )
        started = web_sign_in.start(
            store,
            settings,
            user=posted.session.user.name,
            name=str(values["name"]),
            purpose="add",
            allow_contributors=bool(values["allow_contributors"]),
            agreed=bool(values["agreed"]),
            session_digest=posted.session.digest,
        )
    except SegportError as error:
        return render(
            request,
            "connections/new.html",
            posted.session,
            status_code=400,
            error=error,
            values=values,
            terms=connections.PRIVACY_TEXT,
            kinds=KINDS,
        )
    return RedirectResponse(started.authorize_url, status_code=303)


@router.get("/connections/new/review")
def review_page(request: Request, session: PageSession, store: StoreDep, pending: str = "") -> Response:
    allow(session, "admin")
    waiting = web_sign_in.show_pending(store, pending=pending, session_digest=session.digest)
    return render(request, "connections/review.html", session, pending=waiting)


@router.post("/connections/new/review")
def review_submit(request: Request, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    allow(posted.session, "admin")
    pending = posted.text("pending")
    try:
        view = web_sign_in.save_pending(
            store,
            settings,
            pending=pending,
            session_digest=posted.session.digest,
            export_user_added=posted.checked("export_user"),
        )
    except SegportError as error:
        waiting = web_sign_in.show_pending(store, pending=pending, session_digest=posted.session.digest)
        return render(request, "connections/review.html", posted.session, status_code=400, pending=waiting, error=error)
    add_notice(store, posted.session, "success", f"The connection {view.name!r} is saved.")
    return RedirectResponse(_page(view.name), status_code=303)


@router.get("/connections/{name}")
def detail_page(request: Request, name: str, session: PageSession, store: StoreDep, reauthorized: str = "") -> Response:
    view = connections.show_connection(store, name=name)
    if not can_use(session.user, view):
        allow(session, "admin")  # refuses with the role's message: others see connections by name and type only
    notice = "Signed in to Constant Contact again; the connection uses the new sign-in." if reauthorized else ""
    return render(request, "connections/detail.html", session, view=view, kinds=KINDS, reauthorized=notice)


@router.post("/connections/{name}/edit")
def edit_submit(request: Request, name: str, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    try:
        view = connections.edit_connection(
            store,
            name=name,
            new_name=posted.text("name"),
            allow_contributors=posted.text("who") == "contributors",
            actor=posted.session.user.name,
        )
    except SegportError as error:
        view = connections.show_connection(store, name=name)
        return render(
            request, "connections/detail.html", posted.session, status_code=400, view=view, kinds=KINDS, error=error
        )
    add_notice(store, posted.session, "success", "Changes saved.")
    return RedirectResponse(_page(view.name), status_code=303)


@router.post("/connections/{name}/reauthorize")
def reauthorize_submit(name: str, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    allow(posted.session, "admin")
    started = web_sign_in.start(
        store,
        settings,
        user=posted.session.user.name,
        name=name,
        purpose="reauthorize",
        session_digest=posted.session.digest,
    )
    return RedirectResponse(started.authorize_url, status_code=303)


@router.get("/connections/{name}/remove")
def remove_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin")
    view = connections.show_connection(store, name=name)
    return render(request, "connections/remove.html", session, view=view)


@router.post("/connections/{name}/remove")
def remove_submit(request: Request, name: str, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    try:
        connections.remove_connection(store, name=name, actor=posted.session.user.name)
    except SegportError as error:
        view = connections.show_connection(store, name=name)
        return render(request, "connections/remove.html", posted.session, status_code=400, view=view, error=error)
    add_notice(store, posted.session, "success", f"The connection {name!r} and its stored secrets are removed.")
    return RedirectResponse("/connections", status_code=303)


@router.post("/connections/{name}/disconnect-exports")
def disconnect_submit(request: Request, name: str, posted: Post, store: StoreDep) -> Response:
    """Disconnect the chosen exports of this connection (R16), then back to the removal, which may now go on."""
    allow(posted.session, "admin")
    view = connections.show_connection(store, name=name)
    chosen = [export for export in posted.many("exports") if export in view.exports]
    try:
        if not chosen:
            raise InvalidInput("No export was chosen.", hint="Tick the exports to disconnect.")
        exports.disconnect_exports(store, names=chosen, actor=posted.session.user.name)
    except SegportError as error:
        return render(request, "connections/remove.html", posted.session, status_code=400, view=view, error=error)
    add_notice(store, posted.session, "success", f"Disconnected: {', '.join(chosen)}. They do not run until edited.")
    return RedirectResponse(f"{_page(name)}/remove", status_code=303)
