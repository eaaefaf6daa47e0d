"""The layering the run redesign rests on, read from the source: one owner for a run's tables, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "segport"
RUN_TABLES = {"runs", "run_events", "run_batches", "run_rows"}
WRITES = {"insert", "update", "delete"}


def modules() -> dict[str, ast.Module]:
    return {
        ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts): ast.parse(path.read_text(encoding="utf-8"))
        for path in SOURCE.rglob("*.py")
        if "migrations" not in path.parts
    }


def writes_to_run_tables(tree: ast.Module) -> list[str]:
    """`insert(runs)`, `update(run_batches)`, `run_events.delete()` and the like."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id in WRITES and node.args:
            target = node.args[0]
            if isinstance(target, ast.Name) and target.id in RUN_TABLES:
                found.append(f"{function.id}({target.id}) at line {node.lineno}")
        if (
            isinstance(function, ast.Attribute)
            and function.attr in WRITES
            and isinstance(function.value, ast.Name)
            and function.value.id in RUN_TABLES
        ):
            found.append(f"{function.value.id}.{function.attr}() at line {node.lineno}")
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_runs_package_writes_a_runs_tables() -> None:
    outside = {
        name: found
        for name, tree in modules().items()
        if not name.startswith("segport.runs") and (found := writes_to_run_tables(tree))
    }
    assert outside == {}


def test_the_check_finds_a_write_where_there_is_one() -> None:
    tree = ast.parse("from sqlalchemy import update\nupdate(runs).values(status='x')\nrun_batches.delete()\n")
    assert sorted(writes_to_run_tables(tree)) == ["run_batches.delete() at line 3", "update(runs) at line 2"]


def test_the_layers_import_only_downwards() -> None:
    found = modules()
    below = {
        "segport.runs": ("segport.exports", "segport.scheduling", "segport.connections", "segport.api", "segport.web"),
        "segport.exports": ("segport.scheduling", "segport.api", "segport.web", "segport.cli"),
        # The two faces over HTTP share segport.server and the domain (permissions too), never each other.
        "segport.api": ("segport.web", "segport.cli"),
        "segport.web": ("segport.api", "segport.cli"),
        "segport.server.state": ("segport.api", "segport.web"),
        "segport.server.problems": ("segport.api", "segport.web"),
        "segport.permissions": ("segport.api", "segport.web", "segport.server", "segport.cli"),
    }
    crossings = [
        f"{name} imports {module}"
        for package, forbidden in below.items()
        for name, tree in found.items()
        if name.startswith(package)
        for module in imported(tree)
        if module.startswith(forbidden)
    ]
    assert crossings == []
