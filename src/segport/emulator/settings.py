"""How an emulator instance behaves: its account, the application it knows, token lifetimes, limits, speed."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "segport-emulator"
DEFAULT_CLIENT_SECRET = "segport-emulator-secret"  # noqa: S105 - a published test credential of the emulator
# The redirect URIs segport uses by default (SEGPORT_CC_REDIRECT_URI for the CLI, SEGPORT_API_PUBLIC_URL's
# /oauth/callback for browsers), registered with the emulated application as a developer would register them.
DEFAULT_REDIRECT_URIS = ("http://127.0.0.1:8788/oauth/callback", "http://127.0.0.1:8787/oauth/callback")


@dataclass
class EmulatorSettings:
    # The one Constant Contact account the emulator plays, and the application registered with it.
    account_name: str = "Emulated Constant Contact account"
    account_email: str = "owner@example.com"
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    # Redirect URIs must match one of these exactly, as the developer portal's registered URIs must.
    redirect_uris: list[str] = field(default_factory=lambda: list(DEFAULT_REDIRECT_URIS))
    # Also take any http loopback URL (127.0.0.1, localhost, ::1, any port): for tests and setups on other
    # ports. The service has no such wildcard, so this is opt-in.
    any_loopback_redirect: bool = False
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
    # Whether a token request refused with 429 counts toward that limit. The documentation does not say; the
    # emulator assumes it does (the stricter reading: a client that retries at once stays refused), and segport
    # waits out the whole window after a 429, so it gets through either way (tests run both).
    token_refusals_count: bool = True
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
