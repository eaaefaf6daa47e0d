"""1,000,000 contacts through the client into the emulator running as a separate process on a port.

Run: python bench/client_1m.py [--contacts N]
The emulator enforces Constant Contact's limits (4 requests/s, 10,000/day); the client keeps inside them.
The LAST line printed is one JSON object: wall_s, requests_by_endpoint, peak_rss_mb and more.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import orjson
from pydantic import SecretStr

from segport.connections.sign_in import sign_in
from segport.constant_contact import (
    BearerAuth,
    ConstantContactClient,
    OAuthClient,
    RateBudget,
    TokenKeeper,
    json_import_batches,
)
from segport.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from segport.emulator.serve import free_port, wait_until_healthy
from segport.emulator.settings import DEFAULT_REDIRECT_URIS
from segport.profiles.generator import FIRST, LAST


def rows(count: int) -> Iterator[tuple[str, str | None, str | None]]:
    for number in range(count):
        yield (f"member.{number}@example{number % 97}.com", FIRST[number % 10], LAST[number % 10])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "segport", "emulator", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    try:
        if not wait_until_healthy(base):
            raise SystemExit("the emulator did not start within 30 s")
        with httpx.Client() as http:
            oauth = OAuthClient(
                http,
                auth_base=f"{base}/oauth2/default/v1",
                client_id=DEFAULT_CLIENT_ID,
                client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
            )
            tokens = sign_in(
                oauth,
                http,
                auth_base=f"{base}/oauth2/default/v1",
                client_id=DEFAULT_CLIENT_ID,
                redirect_uri=DEFAULT_REDIRECT_URIS[0],  # registered with the emulator by default
                announce=print,
                open_browser=False,
            )
            keeper = TokenKeeper(oauth, tokens, on_new_tokens=lambda _: None)
            budget = RateBudget()
            client = ConstantContactClient(http, api_base=f"{base}/v3", auth=BearerAuth(keeper, budget), budget=budget)
            started = time.perf_counter()
            target = client.create_list("Benchmark").list_id
            activity_ids = []
            for batch in json_import_batches(rows(args.contacts), [target]):
                activity_ids.append(client.import_contacts_json(batch).activity_id)
                print(
                    f"import {len(activity_ids)}: {batch.count} contacts, {len(batch.body):,} bytes",
                    flush=True,
                )
            done = client.wait_for_activities(activity_ids, first_interval=0.25)
            wall = time.perf_counter() - started
            people = sum(activity.status.person_count or 0 for activity in done.values())
            stats = http.get(f"{base}/_emulator/stats").json()
            members = http.get(f"{base}/_emulator/lists").json()["lists"][0]["members"]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    requests = {operation: sum(counts.values()) for operation, counts in stats["by_operation"].items()}
    result = {
        "contacts": args.contacts,
        "wall_s": round(wall, 2),
        "requests_by_endpoint": requests,
        "import_requests": requests.get("bulkImportContactsJSON", 0),
        "responses_429": stats["throttled"],
        "person_count": people,
        "list_members": members,
        "exact": members == args.contacts,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
