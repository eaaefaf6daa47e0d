"""The chaos suite at any scale: `python bench/chaos.py --seeds 200 [--first 1] [--parallel 3]`.

Plays seeded scenarios of emulator faults, kill -9 of runs at failpoints and at random moments, emulator
restarts, segment changes and unsubscribes (tests/support/chaos.py), then prints the failed seeds' problems
and, last, one JSON object: seeds, runs, kills, restarts, lists_exact, batches_resent, resends_allowed,
failed_seeds, seconds. Exits 1 when a seed failed. A failed seed replays alone with --first N --seeds 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' support package lives beside bench

from tests.support.chaos import play_seeds, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="how many seeds to play")
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--parallel", type=int, default=3, help="seeds played at once (each in its own processes)")
    options = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="segport-chaos-") as directory:
        seeds = list(range(options.first, options.first + options.seeds))
        results = play_seeds(seeds, Path(directory), parallel=options.parallel)
    report = summary(results)
    report["seconds"] = round(time.monotonic() - started, 1)
    for result in results:
        if result.problems:
            print(f"seed {result.seed} ({result.mode}):", *result.problems, sep="\n  ", file=sys.stderr)
    print(json.dumps(report))
    return 1 if report["failed_seeds"] else 0


if __name__ == "__main__":
    sys.exit(main())
