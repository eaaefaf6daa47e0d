"""Field mapping on the command line: see the properties, map fields (creating a custom field), run, see the
contact's properties in the emulator; and the mistakes a person makes, each answered with the fix."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

from tests.e2e.cli import emulator_process, environment, segport


def test_fields_are_mapped_sent_shown_and_mistakes_named(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(tmp_path / "home", base)
        listed = segport(env, "exports", "properties").stdout
        assert "job_title" in listed and "birthday_month" in listed and "cf:NAME" in listed
        segport(env, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
        list_id = segport(env, "lists", "create", "Mapped").stdout.split("list ID ")[1].split()[0]
        profiles = tmp_path / "people.csv"
        profiles.write_text(
            "key,email,city,tier,born\n1,ann@example.com,Ottawa,gold,1990-04-12\n2,bob@example.com,Lyon,,1985-12-01\n",
            encoding="utf-8",
        )
        segport(env, "profiles", "import", str(profiles), "--key", "key")
        segport(env, "segments", "create", "Everyone", "email is not empty")
        add = ("exports", "add", "--name", "M", "--connection", "CC", "--list-id", list_id, "--email-field", "email",
               "--segment", "Everyone")  # fmt: skip
        missing = segport(env, *add, "--field", "tier=cf:tier", check=False)
        assert missing.returncode == 2 and "no custom field 'tier'" in missing.stderr
        assert "--create-custom-fields" in missing.stderr and "Traceback" not in missing.stderr
        wrong = segport(env, *add, "--field", "tier", check=False)
        assert wrong.returncode == 2 and "PROFILE_FIELD=PROPERTY" in wrong.stderr
        half = segport(env, *add, "--field", "born=birthday_month", check=False)
        assert half.returncode == 2 and "birthday_day" in half.stderr
        segport(env, *add, "--field", "city=city", "--field", "tier=cf:tier", "--field", "born=birthday_month",
                "--field", "born=birthday_day", "--create-custom-fields")  # fmt: skip
        shown = segport(env, "exports", "show", "M").stdout
        assert "More fields: city=city, tier=cf:tier, born=birthday_month, born=birthday_day" in shown
        assert "Mode: add" in shown
        assert "cf:tier" in segport(env, "exports", "properties", "--connection", "CC").stdout
        segport(env, "exports", "run", "M")
        ann = httpx.get(f"{base}/_emulator/contacts/{quote('ann@example.com')}").json()
        assert ann["properties"] == {"city": "Ottawa", "cf:tier": "gold", "birthday_month": 4, "birthday_day": 12}
        bob = httpx.get(f"{base}/_emulator/contacts/{quote('bob@example.com')}").json()
        assert bob["properties"] == {"city": "Lyon", "birthday_month": 12, "birthday_day": 1}
        segport(env, "exports", "edit", "M", "--no-fields")
        assert "More fields: -" in segport(env, "exports", "show", "M").stdout
