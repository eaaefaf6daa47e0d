"""How a fix is done on the command line. segport's errors say what to fix in words every face understands,
naming the input (`field`) in the API's and the forms' terms; the CLI adds its own syntax for that input here,
so no domain message carries a command-line option to API or web users."""

from __future__ import annotations

# field: how the command line sets it
FIXES: dict[str, str] = {
    "times": "--time HH:MM (repeat for more)",
    "days": "--day mon (mon ... sun; repeat for more)",
    "schedule": "--daily or --weekly with --time (and --day), or --cron 'EXPRESSION', and nothing else",
    "table": "--table [SCHEMA.]NAME",
    "key": "--key COLUMN",
    "profiles": "segport profiles import FILE --key COLUMN, "
    "or segport profiles connect --url URL --table NAME --key COLUMN",
    "allow_shrink": "--allow-shrink",
    "allow_breaking": "--allow-breaking",
    "allow_mass_removal": "segport exports run NAME --allow-mass-removal",
    "segments": "--segment NAME (repeat for more); segport segments list shows them",
    "segment": "segport segments list shows them",
    "connection": "--connection NAME; segport connections list shows them",
    "export": "segport exports list shows them",
    "run": "segport runs list shows them",
    "alert": "segport alerts list shows them",
    "user": "segport users list shows them",
    "token": "segport users tokens shows them",
    "fields": "--field PROFILE_FIELD=PROPERTY; segport exports properties lists the properties",
    "rule": "segport segments edit NAME --rule '...'",
    "agreed": "segport connections terms shows the terms; --i-agree accepts them",
    "create_custom_fields": "--create-custom-fields",
    "list_id": "--list-id ID; segport lists shows the account's lists",
    "email_field": "--email-field FIELD",
}


def on_the_command_line(field: str | None) -> str | None:
    """The line the CLI adds under an error's hint, when the error names an input the CLI sets its own way."""
    fix = FIXES.get(field or "")
    return f"On the command line: {fix}." if fix else None
