"""How long light CLI commands take to start, beside Python's own start: `python bench/cli_startup.py`.

Each command runs `--repeat` times (default 15) in a fresh process on a small store; the figure is the median
wall time and the median CPU time (user + system) of the child. The floor is `python -c pass`, measured the
same way in the same run. Prints one line per command, then one JSON object: value_s (the median of
`segport --help`), floor_s, ratio, and every command's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "segport --help": [sys.executable, "-m", "segport", "--help"],
    "segport --version": [sys.executable, "-m", "segport", "--version"],
    "segport runs list": [sys.executable, "-m", "segport", "runs", "list"],
    "segport exports list": [sys.executable, "-m", "segport", "exports", "list"],
}


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of the command in a child process."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segport-bench-") as home:
        env = {**os.environ, "SEGPORT_HOME": home, "COLUMNS": "120"}
        subprocess.run(COMMANDS["segport runs list"], env=env, stdout=subprocess.DEVNULL, check=True)  # migrate
        figures = {}
        for name, command in COMMANDS.items():
            runs = [timed(command, env) for _ in range(options.repeat)]
            wall = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            figures[name] = {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4)}
            print(f"{name:24} wall {wall * 1000:7.1f} ms   cpu {cpu * 1000:7.1f} ms", flush=True)
    floor = figures["python -c pass"]["wall_s"]
    value = figures["segport --help"]["wall_s"]
    for item in figures.values():
        item["ratio"] = round(item["wall_s"] / floor, 1)
    print(json.dumps({"value_s": value, "floor_s": floor, "ratio": round(value / floor, 1), "commands": figures}))


if __name__ == "__main__":
    main()
