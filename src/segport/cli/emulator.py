"""`segport emulator`: run the Constant Contact emulator on a port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segport.cli.common import console
from segport.errors import InvalidInput


def emulator(
    port: Annotated[int, typer.Option(help="TCP port to listen on.", min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind; keep it on loopback.")] = "127.0.0.1",
    state: Annotated[
        Path | None, typer.Option(help="Keep the emulator's contacts, lists and tokens in this file across restarts.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<fault>", help="A scheduled fault, e.g. 'imports#3-5=503' or 'requests#7=drop'; repeat for more."
        ),
    ] = None,
    consent_page: Annotated[
        bool, typer.Option(help="Show a consent page at sign-in instead of approving at once.")
    ] = False,
    rotating_refresh_tokens: Annotated[
        bool,
        typer.Option(
            "--rotating-refresh-tokens/--long-lived-refresh-tokens",
            help="Refresh tokens are single use (Constant Contact's default) or long lived.",
        ),
    ] = True,
    access_token_seconds: Annotated[
        int, typer.Option(help="Lifetime of access tokens (at most a year).", min=1, max=365 * 86_400)
    ] = 86_400,
    contacts_per_second: Annotated[
        float | None, typer.Option(help="How fast bulk activities process contacts; unset finishes them at once.")
    ] = None,
    rate_limits: Annotated[bool, typer.Option(help="Enforce Constant Contact's 4 requests/s and 10,000/day.")] = True,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<uri>",
            help="A registered redirect URI (exact match, as in the developer portal); repeat for more. "
            "Default: segport's own, http://127.0.0.1:8788/oauth/callback and http://127.0.0.1:8787/oauth/callback.",
        ),
    ] = None,
    any_loopback_redirect: Annotated[
        bool, typer.Option(help="Also take any http://127.0.0.1 or localhost redirect URI (Constant Contact does not).")
    ] = False,
) -> None:
    """Run the Constant Contact emulator (V3 API, OAuth server, inspection API) on a port."""
    from segport.emulator.serve import EmulatorOptions, serve_emulator

    try:
        serve_emulator(
            EmulatorOptions(
                host=host,
                port=port,
                state_file=state,
                faults=fault or [],
                consent_page=consent_page,
                rotating_refresh_tokens=rotating_refresh_tokens,
                access_token_seconds=access_token_seconds,
                contacts_per_second=contacts_per_second,
                rate_limits=rate_limits,
                redirect_uris=redirect_uri,
                any_loopback_redirect=any_loopback_redirect,
            ),
            announce=console.print,
        )
    except ValueError as exc:
        raise InvalidInput(f"Cannot start the emulator: {exc}") from None
