"""Cursor paging for the API's growing lists (runs, the audit trail, alerts sent): newest first, a page cut
after the filters, and a `Link: <...>; rel="next"` header on a full page whose `before` is the last id shown,
so a caller follows links until one is missing, and items arriving meanwhile neither repeat nor hide others."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Response


def link_next(response: Response, path: str, last_id: int | None, limit: int, **kept: Any) -> None:
    """On a full page (`last_id` given), the header that asks for the page after it, keeping the filters."""
    if last_id is None:
        return
    query = urlencode({key: value for key, value in {**kept, "before": last_id, "limit": limit}.items() if value})
    response.headers["Link"] = f'<{path}?{query}>; rel="next"'


def last_of_full_page(ids: list[int], limit: int) -> int | None:
    return ids[-1] if ids and len(ids) == limit else None
