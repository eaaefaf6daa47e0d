"""How an emulator instance behaves: its account, the application it knows, token lifetimes, limits, speed."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "segport-emulator"
DEFAULT_CLIENT_SECRET = "segport-emulator-secret"  # noqa: S105 - a published test credential of the emulator


@dataclass
class EmulatorSettings:
    # The one Constant Contact account the emulator plays, and the application registered with it.
    account_name: str = "Emulated Constant Contact account"
    account_email: str = "owner@example.com"
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    # Exact redirect URIs, as the developer portal requires; empty means any loopback URL
    # (http://127.0.0.1:<port>/... or http://localhost:<port>/...), which is what a CLI callback needs.
    redirect_uris: list[str] = field(default_factory=list)
    # Approve every authorization request at once (scripts, tests); otherwise show a consent page.
    auto_approve: bool = True
    access_token_seconds: int = 86_400
    authorization_code_seconds: int = 300
    refresh_token_idle_days: int = 180
    rotating_refresh_tokens: bool = True
    # Constant Contact's limits per API key; None switches a limit off.
    requests_per_second: int | None = 4
    requests_per_day: int | None = 10_000
    token_requests_per_second: int | None = 1
    max_lists: int = 1_000
    max_lists_per_contact: int = 50
    max_queued_activities: int = 1_000
    # Contacts processed per second by bulk activities; None finishes every activity at once.
    contacts_per_second: float | None = None
    # Seconds an activity stays `initialized` before processing starts (only with contacts_per_second).
    activity_start_delay: float = 0.5
    # Refuse export fields the documentation does not list (contact_id, permission_to_send...), as the service
    # may; False answers as the most lenient service plausibly would (see checks.py).
    strict_exports: bool = True
