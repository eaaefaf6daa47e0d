"""Every route that reaches the network seam (Constant Contact, a webhook, a mail server), itself or through a
helper of its module, runs in the pool of routes waiting on others; and no other route is marked so. Read from
the source: a route left in the capped pool would hold one of its few threads through an outage."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "segport"
ROUTE_PACKAGES = (SOURCE / "api" / "routes", SOURCE / "web" / "routes")
SEAM = {"http_of", "HttpDep"}
MARK = "waits_on_others"


def misplaced_routes(tree: ast.Module) -> list[str]:
    """The module's routes that reach the seam unmarked, or are marked without reaching it."""
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    names_used = {
        name: {node.id for node in ast.walk(function) if isinstance(node, ast.Name)}
        for name, function in functions.items()
    }
    reaching = {name for name, used in names_used.items() if used & SEAM}
    while grown := {name for name, used in names_used.items() if name not in reaching and used & reaching}:
        reaching |= grown
    found = []
    for name, function in functions.items():
        decorators = [ast.unparse(decorator) for decorator in function.decorator_list]
        if not any(decorator.startswith("router.") for decorator in decorators):
            continue
        marked = MARK in decorators
        if name in reaching and not marked:
            found.append(f"{name} reaches the network seam without @{MARK}")
        if marked and name not in reaching:
            found.append(f"{name} is marked @{MARK} but reaches no other service")
    return found


def test_the_routes_that_wait_on_other_services_are_exactly_the_marked_ones() -> None:
    found = {
        path.relative_to(SOURCE).as_posix(): misplaced
        for package in ROUTE_PACKAGES
        for path in sorted(package.glob("*.py"))
        if (misplaced := misplaced_routes(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_check_follows_helpers_and_finds_a_mark_without_a_reason() -> None:
    module = ast.parse(
        "def _lists(request):\n"
        "    return call(http=http_of(request))\n"
        "def _form(request):\n"
        "    return _lists(request)\n"
        "@router.get('/a')\n"
        "def page(request):\n"
        "    return _form(request)\n"
        "@router.get('/b')\n"
        "@waits_on_others\n"
        "def quiet(request):\n"
        "    return 1\n"
        "@router.get('/c')\n"
        "@waits_on_others\n"
        "def fine(request, http: HttpDep):\n"
        "    return http\n"
    )
    assert misplaced_routes(module) == [
        "page reaches the network seam without @waits_on_others",
        "quiet is marked @waits_on_others but reaches no other service",
    ]
