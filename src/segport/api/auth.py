"""Who is calling the API: a Bearer API token. What their role lets them do is the domain's
(segport/permissions.py), shared with the web UI."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from segport.permissions import require
from segport.server.problems import NotSignedIn
from segport.server.state import StoreDep as StoreDep
from segport.server.state import store_of
from segport.users.service import User, authenticate

# Declares the scheme in the OpenAPI document (the Authorize button of /docs); the header is read below, so a
# missing or malformed one gets segport's own problem details rather than FastAPI's.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="API token",
    description="An API token: segport users token NAME (shown once), sent as Authorization: Bearer <token>.",
)


def current_user(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
) -> User:
    known = getattr(request.state, "api_user", None)  # found by the request guard before the body was read
    if isinstance(known, User):
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn(
            "This needs an API token.", hint="Send Authorization: Bearer <token>; an admin issues API tokens."
        )
    user = authenticate(store_of(request), token.strip())
    if user is None:
        raise NotSignedIn("The API token is unknown or revoked.", hint="Ask an admin for a new one.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:  # no I/O: on the event loop, no thread hop
    """The caller, when an admin: as a dependency, refused before the body is read (an upload's file)."""
    require(user, "admin")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
