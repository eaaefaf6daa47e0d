"""Dying at a failpoint inside the test process: the run stops there as a killed process would, and whatever
it committed before stays."""

from __future__ import annotations

from segport import failpoints


class Crash(BaseException):
    """Stands for the process dying at a failpoint: nothing in segport catches it."""


def crash_at(name: str, occurrence: int = 1) -> None:
    """Make the run 'die' the `occurrence`-th time it passes the failpoint `name`."""
    seen = {"count": 0}

    def action(point: str) -> None:
        if point == name:
            seen["count"] += 1
            if seen["count"] == occurrence:
                raise Crash(point)

    failpoints.set_action(action)
