"""Which declared routes a permission matrix leaves without a row."""

from __future__ import annotations

import re
from collections.abc import Iterable

Route = tuple[str, str]  # (method, path template such as /api/exports/{name}/run)


def uncovered(declared: set[Route], rows: Iterable[Route]) -> list[Route]:
    """The declared routes no row reaches. A row is a method and a concrete path (query and id placeholders
    such as {OnShared} or {export_OnShared} allowed); a literal segment wins over a parameter, as in the router
    (/connections/terms before /connections/{name})."""
    covered = set()
    for method, row_path in rows:
        path = re.sub(r"\{[A-Za-z_]+\}", "1", row_path.split("?")[0])  # any id placeholder: a number
        matching = [
            template
            for verb, template in declared
            if verb == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)
        ]
        if matching:
            covered.add((method, min(matching, key=lambda template: template.count("{"))))
    return sorted(declared - covered)


def listed(missing: list[Route]) -> str:
    return "\n".join(f"{method} {template}" for method, template in missing)
