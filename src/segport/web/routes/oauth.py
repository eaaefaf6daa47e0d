"""Where Constant Contact sends the browser back after a sign-in, whichever face started it: the web UI's
wizard and Reauthorize (they come back in their own session), or POST /api/connections (a page that says the
connection is signed in)."""

from __future__ import annotations

import html
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from segport.connections import web_sign_in
from segport.server.state import StoreDep, http_of, settings_of
from segport.server.threads import waits_on_others
from segport.web.session import browser_session

router = APIRouter(include_in_schema=False)


@router.get("/oauth/callback", response_class=HTMLResponse, response_model=None)
@waits_on_others
def oauth_callback(
    request: Request,
    store: StoreDep,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> HTMLResponse | RedirectResponse:
    """Where Constant Contact sends the browser back; the state proves which sign-in it belongs to."""
    session = browser_session(request)
    finished = web_sign_in.finish(
        store,
        settings_of(request),
        state=state,
        code=code,
        error=error,
        error_description=error_description,
        http=http_of(request),
        session_digest=session.digest if session else None,
    )
    if finished.pending is not None:
        return RedirectResponse(f"/connections/new/review?pending={finished.pending}", status_code=303)
    if session is not None:
        return RedirectResponse(f"/connections/{quote(finished.name)}?reauthorized=1", status_code=303)
    view = finished.connection
    assert view is not None
    account = html.escape(view.account_name or "your Constant Contact account")
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Connected</title>"
        f"<p>The connection <strong>{html.escape(view.name)}</strong> is signed in to {account}. "
        f"You can close this window.</p></html>"
    )
    return HTMLResponse(page)
