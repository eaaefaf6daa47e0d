"""Numbers in sentences users read: "1 batch", "12 batches", "1,000,000 contacts"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """`number` with the noun that agrees with it, thousands separated."""
    noun = singular if number == 1 else (plural or singular + "s")
    return f"{number:,} {noun}"


def a(word: str) -> str:
    """The word with its indefinite article: "an integer", "a text", "a date"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def sentence(text: str) -> str:
    """The text ending with one full stop, however the quoted part ended ("unavailable." + "." is one)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def duration(seconds: float) -> str:
    """A wait for people: "2.5 h", "12 min", "40 s"."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
