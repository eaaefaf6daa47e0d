"""The chaos suite: seeded scenarios of emulator faults, kill -9 at failpoints and at random moments, emulator
restarts, segment changes and unsubscribes, in add and mirror mode (tests/support/chaos.py says what each seed
plays and checks). Each seed prints nothing unless it fails; `bench/chaos.py --seeds N` plays more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.chaos import play_seeds, summary

# At least 30 seeds in CI within about 3 minutes; SEGPORT_CHAOS_SEEDS plays another range (e.g. "100-160").
SEEDS = os.environ.get("SEGPORT_CHAOS_SEEDS", "1-30")


def _seeds(spec: str) -> list[int]:
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


def test_after_every_fault_kill_and_restart_the_list_is_exact_and_nothing_is_lost_or_sent_twice(
    tmp_path: Path,
) -> None:
    results = play_seeds(_seeds(SEEDS), tmp_path, parallel=3)
    report = summary(results)
    failed = {result.seed: result.problems for result in results if result.problems}
    assert not failed, json.dumps({"summary": report, "failed": failed}, indent=1)[:20_000]
    assert report["lists_exact"]
    assert report["kills"] >= len(results) // 3, report  # the seeds do kill runs, at failpoints and by the clock
    assert report["restarts"] >= 1, report
    assert report["batches_resent"] <= report["resends_allowed"]
