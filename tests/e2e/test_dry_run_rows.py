"""`exports run --dry-run --show-rows` as a script reads it: every row, tab-separated, one per line, printed as
it is decided (the first rows arrive while the rest are still being read); without --show-rows, samples."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.cli import emulator_process, environment, segport

COUNT = 30_000


def test_show_rows_streams_every_row_as_tab_separated_lines(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(tmp_path / "home", base)
        segport(env, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
        list_id = segport(env, "lists", "create", "Rows").stdout.split("list ID ")[1].split()[0]
        profiles = tmp_path / "people.csv"
        with profiles.open("w", encoding="utf-8") as handle:
            handle.write("key,email,first\n")
            for number in range(COUNT):
                email = "not an address" if number % 1000 == 7 else f"p{number}@example.com"
                handle.write(f'k{number},{email},"Tab\there"\n' if number == 3 else f"k{number},{email},N\n")
        segport(env, "profiles", "import", str(profiles), "--key", "key")
        segport(env, "segments", "create", "Everyone", "key is not empty")
        segport(env, *("exports", "add", "--name", "R", "--connection", "CC", "--list-id", list_id),
                "--email-field", "email", "--first-name-field", "first", "--segment", "Everyone")  # fmt: skip

        with subprocess.Popen(
            [sys.executable, "-m", "segport", "exports", "run", "R", "--dry-run", "--show-rows"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None
            header = process.stdout.readline()
            planning = time.monotonic()  # the header is printed before the dry run starts reading
            first = process.stdout.readline()
            first_at = time.monotonic() - planning
            rest = process.stdout.read()
            total = time.monotonic() - planning
            assert process.wait(timeout=120) == 0
        lines = [first, *rest.splitlines(keepends=True)]
        rows = [line.rstrip("\n").split("\t") for line in lines if line.startswith(("add\t", "skip\t"))]
        assert header == "action\tprofile_key\temail\treason\n"
        assert len(rows) == COUNT and all(len(row) == 4 for row in rows)
        assert sum(row[0] == "skip" for row in rows) == COUNT // 1000
        assert ["add", "k0", "p0@example.com", ""] in rows
        assert "would add 29,970" in rest and "Some rows" not in rest
        # Streamed: the first row came well before the last (a buffered table would print them all at the end).
        assert first_at < total * 0.5, (first_at, total)

        summary = segport(env, "exports", "run", "R", "--dry-run").stdout
        assert "Some rows" in summary and "p0@example.com" in summary
