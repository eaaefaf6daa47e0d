"""Who is using the browser (the session cookie) and the CSRF check every form goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData

from segport.permissions import require
from segport.server.state import SettingsDep as SettingsDep
from segport.server.state import StoreDep as StoreDep
from segport.server.state import settings_of, store_of
from segport.users.passwords import same_text
from segport.users.sessions import Session, find_session

COOKIE = "segport_session"


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in page, and back here afterwards."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class FormExpired(Exception):
    """The form's CSRF token does not belong to this session (an old tab, or a forged request)."""


def browser_session(request: Request) -> Session | None:
    """The session the request's cookie opens, looked up once per request."""
    if not hasattr(request.state, "web_session"):
        cookie = request.cookies.get(COOKIE, "")
        request.state.web_session = find_session(store_of(request), settings_of(request), cookie) if cookie else None
    found: Session | None = request.state.web_session
    return found


def signed_in(request: Request) -> Session:
    session = browser_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/")
    return session


async def _form(request: Request) -> AsyncIterator[FormData]:
    """The posted form, its uploaded files closed once the page is answered: Starlette leaves that to whoever
    read the form, and an upload past 1 MB is a temporary file on disk until then."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


@dataclass(frozen=True)
class Posted:
    """A form post whose CSRF token matched the session's."""

    session: Session
    form: FormData

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def many(self, name: str) -> list[str]:
        return [value.strip() for value in self.form.getlist(name) if isinstance(value, str) and value.strip()]

    def checked(self, name: str) -> bool:
        return self.form.get(name) in ("on", "true", "1", "yes")


def posted(request: Request, form: Annotated[FormData, Depends(_form)]) -> Posted:
    session = signed_in(request)
    token = form.get("csrf_token")
    if not isinstance(token, str) or not same_text(token, session.csrf_token):
        raise FormExpired()
    return Posted(session, form)


def allow(session: Session, *roles: str) -> None:
    """Refuse (403 page) a role that may not do this, whatever the page showed."""
    require(session.user, *roles)


def sign_in_link(back_to: str) -> str:
    return "/sign-in?next=" + quote(back_to, safe="")


PageSession = Annotated[Session, Depends(signed_in)]
Post = Annotated[Posted, Depends(posted)]
