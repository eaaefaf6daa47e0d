"""The chaos suite: seeded scenarios of emulator faults, kill -9 at failpoints and at random moments, emulator
restarts, segment changes and unsubscribes, in add and mirror mode (tests/support/chaos.py says what each seed
plays and checks). It runs bench/chaos.py in a fresh interpreter: the seeds fork processes, which a test process
with threads (pytest-xdist's) must not do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# At least 30 seeds in CI within about 3 minutes; SEGPORT_CHAOS_SEEDS plays another range (e.g. "100-160").
SEEDS = os.environ.get("SEGPORT_CHAOS_SEEDS", "1-30")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def test_after_every_fault_kill_and_restart_the_list_is_exact_and_nothing_is_lost_or_sent_twice() -> None:
    first, _, last = SEEDS.partition("-")
    seeds = int(last or first) - int(first) + 1
    done = subprocess.run(
        [sys.executable, str(BENCH), "--first", first, "--seeds", str(seeds)],
        capture_output=True,
        text=True,
        timeout=900,
        env={key: value for key, value in os.environ.items() if not key.startswith("SEGPORT_")},
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    problems = [line for line in done.stderr.splitlines() if line.startswith(("seed ", "  "))]
    assert done.returncode == 0 and not report["failed_seeds"], (report, problems[:60])
    assert report["seeds"] == seeds and report["lists_exact"]
    assert report["kills"] >= seeds // 3, report  # the seeds do kill runs, at failpoints and by the clock
    assert report["restarts"] >= 1, report
    assert report["batches_resent"] <= report["resends_allowed"], report
