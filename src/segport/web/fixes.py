"""How a fix is done in the web UI, for errors that name the input they are about (`field`): shown under the
error's hint, in the form's own words (the CLI has its own table, cli/fixes.py)."""

from __future__ import annotations

FIXES: dict[str, str] = {
    "create_custom_fields": "Tick 'Create missing custom fields in Constant Contact' under More fields to let "
    "segport create them.",
    "allow_shrink": "Tick 'The new file may hold far fewer profiles' to load it anyway.",
    "allow_breaking": "Tick 'The new file may lack what segments or exports use' to load it anyway.",
    "allow_mass_removal": "Tick 'Allow a mass removal' beside Run on the export's page to run it anyway.",
    "agreed": "Tick the box that accepts the data privacy and compliance terms.",
}


def in_the_browser(field: str | None) -> str | None:
    return FIXES.get(field or "")
