"""Named points on a run's path where a test may make the process die (kill -9) or pause, to prove the run
survives it. In production nothing is set and a point costs one attribute check.

The chaos suite (tests/support/chaos.py) sets an action in a forked run process; the names say
where a crash is most telling: after Constant Contact accepted a batch but before the checkpoint, between the
steps of a removal, and so on.
"""

from __future__ import annotations

from collections.abc import Callable

_action: Callable[[str], None] | None = None


def point(name: str) -> None:
    if _action is not None:
        _action(name)


def set_action(action: Callable[[str], None] | None) -> None:
    global _action
    _action = action
