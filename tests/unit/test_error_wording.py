"""Errors speak to every face: the domain's messages and hints carry no command-line syntax (they reach API and
web users too), and the CLI's own wording of each fix names options its commands really have."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from segport.cli.commands import COMMANDS, load
from segport.cli.fixes import FIXES

SOURCE = Path(__file__).resolve().parents[2] / "src" / "segport"
# The CLI words its own errors; the emulator and the demo are programs of their own; the settings are read
# where a command starts.
FACES_OF_THEIR_OWN = ("cli/", "emulator/", "demo.py", "config.py")
COMMAND_SYNTAX = re.compile(
    r"\bsegport (profiles|segments|connections|lists|exports|runs|alerts|schedule|users|audit|db|serve|worker"
    r"|scheduler|emulator)\b|(^|[\s(])--[a-z]"
)


def texts(node: ast.AST) -> list[str]:
    """The literal text in an expression: strings, f-strings' literal parts, and both sides of a join."""
    found = []
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            found.append(inner.value)
    return found


def test_no_domain_error_carries_command_line_syntax() -> None:
    offending = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        if relative.startswith(FACES_OF_THEIR_OWN):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg in ("hint", "create_hint"):
                    for text in texts(keyword.value):
                        if COMMAND_SYNTAX.search(text):
                            offending.append(f"{relative}:{keyword.value.lineno}: {text!r}")
    assert offending == [], "word these for every face (set field= for the CLI):\n" + "\n".join(offending)


def every_option() -> set[str]:
    options: set[str] = set()

    def walk(command: object) -> None:
        for parameter in getattr(command, "params", []):
            options.update(name for name in getattr(parameter, "opts", []) if name.startswith("--"))
            options.update(name for name in getattr(parameter, "secondary_opts", []) if name.startswith("--"))
        for child in getattr(command, "commands", {}).values():
            walk(child)

    for name in COMMANDS:
        walk(load(name))
    return options


def test_the_clis_wording_of_each_fix_names_real_options() -> None:
    options = every_option()
    unknown = {
        field: option
        for field, fix in FIXES.items()
        for option in re.findall(r"--[a-z][a-z-]*", fix)
        if option not in options
    }
    assert unknown == {}, f"these options do not exist: {unknown}"


def test_every_fix_is_for_a_field_some_error_names() -> None:
    named = set()
    for path in SOURCE.rglob("*.py"):
        named.update(re.findall(r'field="([a-z_]+)"', path.read_text(encoding="utf-8")))
        named.update(re.findall(r'kind="([a-z_]+)"', path.read_text(encoding="utf-8")))  # unknown names: the kind
    assert set(FIXES) - named == set(), "a fix no error can reach"
