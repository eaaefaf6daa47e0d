"""`segport lists` as a person uses it: see the account's lists, create one, find it, export to it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.cli import emulator_process, environment, segport


def test_lists_are_seen_created_found_and_used_by_an_export(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(tmp_path / "home", base)
        none_yet = segport(env, "lists", check=False)
        assert none_yet.returncode == 2 and "no connection yet" in none_yet.stderr
        segport(env, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
        httpx.post(f"{base}/_emulator/lists", json={"name": "Existing"})
        created = segport(env, "lists", "create", "VIP Ontario").stdout
        list_id = created.split("list ID ")[1].split()[0]
        assert httpx.get(f"{base}/_emulator/lists/{list_id}/members").status_code == 200
        shown = segport(env, "lists", "show", "VIP Ontario").stdout
        assert list_id in shown and "Members: 0" in shown and "Exports sending to it: none" in shown
        profiles = tmp_path / "people.csv"
        segport(env, "profiles", "generate", str(profiles), "--count", "20")
        segport(env, "profiles", "import", str(profiles), "--key", "Customer ID")
        segport(env, "segments", "create", "Everyone", "customer_id is not empty")
        segport(env, *("exports", "add", "--name", "To VIP", "--connection", "CC", "--list-id", list_id),
                "--email-field", "email", "--segment", "Everyone")  # fmt: skip
        segport(env, "exports", "run", "To VIP")
        table = segport(env, "lists", "--search", "vip").stdout
        assert "VIP Ontario" in table and "To VIP" in table and "Existing" not in table
        assert "1 list(s) whose name holds 'vip'." in table
        everything = segport(env, "lists").stdout
        assert "Existing" in everything and "2 list(s)." in everything
        taken = segport(env, "lists", "create", "vip ontario", check=False)
        assert taken.returncode == 2 and list_id in taken.stderr
