"""Numbers in sentences users read: "1 batch", "12 batches", "1,000,000 contacts"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """`number` with the noun that agrees with it, thousands separated."""
    noun = singular if number == 1 else (plural or singular + "s")
    return f"{number:,} {noun}"
