"""Start the emulator on a port with uvicorn (the `segport emulator` command)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from pydantic import SecretStr

from segport.config import Settings
from segport.emulator.adapters import EmulatorASGI
from segport.emulator.core import Emulator
from segport.emulator.faults import Fault
from segport.emulator.persistence import PeriodicSaver
from segport.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorSettings


@dataclass
class EmulatorOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    state_file: Path | None = None
    faults: list[str] = field(default_factory=list)
    consent_page: bool = False
    rotating_refresh_tokens: bool = True
    access_token_seconds: int = 86_400
    contacts_per_second: float | None = None
    rate_limits: bool = True
    # Registered redirect URIs (None: segport's defaults), and the opt-in wildcard for any loopback URL.
    redirect_uris: list[str] | None = None
    any_loopback_redirect: bool = False
    # Seconds an activity waits before it starts (with contacts_per_second), and how long a `timeout` fault
    # withholds its answer.
    activity_start_delay: float = 0.5
    withheld_seconds: float = 130.0


def build_emulator(options: EmulatorOptions) -> Emulator:
    """An emulator configured from command-line options; bad fault specs raise ValueError with the fix."""
    for spec in options.faults:
        Fault.parse(spec)
    settings = EmulatorSettings(
        auto_approve=not options.consent_page,
        rotating_refresh_tokens=options.rotating_refresh_tokens,
        access_token_seconds=options.access_token_seconds,
        contacts_per_second=options.contacts_per_second,
        activity_start_delay=options.activity_start_delay,
        any_loopback_redirect=options.any_loopback_redirect,
    )
    if options.redirect_uris:
        settings.redirect_uris = list(options.redirect_uris)
    if not options.rate_limits:
        settings.requests_per_second = None
        settings.requests_per_day = None
        settings.token_requests_per_second = None
    try:
        return Emulator(settings, faults=options.faults, state_file=options.state_file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"the state file {options.state_file} cannot be read ({exc}); move it away or fix it"
        ) from None


def serve_emulator(options: EmulatorOptions, announce: Callable[[str], None] = print) -> None:
    emulator = build_emulator(options)
    saver = PeriodicSaver(emulator, options.state_file) if options.state_file else None
    if saver is not None:
        saver.start()
    base = f"http://{options.host}:{options.port}"
    announce(f"Constant Contact emulator on {base}")
    announce(f"  SEGPORT_CC_API_BASE={base}/v3")
    announce(f"  SEGPORT_CC_AUTH_BASE={base}/oauth2/default/v1")
    announce(f"  SEGPORT_CC_CLIENT_ID={emulator.settings.client_id}")
    announce(f"  SEGPORT_CC_CLIENT_SECRET={emulator.settings.client_secret}")
    announce(f"  inspection: {base}/_emulator/stats")
    app = EmulatorASGI(emulator, on_shutdown=saver.stop if saver else None, timeout_seconds=options.withheld_seconds)
    # A request held by a `timeout` fault must not keep a stopping emulator from saving its state.
    # The emulator sends its own Date header, from its clock; uvicorn's would make two.
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
        date_header=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_in_background(emulator: Emulator, port: int | None = None) -> Iterator[str]:
    """Serve the emulator from a background thread on a loopback port; yields its base URL."""
    with serve_app_in_background(
        EmulatorASGI(emulator), port, name="emulator", lifespan="on", date_header=False
    ) as base:
        yield base


@contextmanager
def serve_app_in_background(
    app: Any,
    port: int | None = None,
    *,
    name: str = "server",
    lifespan: Literal["auto", "on", "off"] = "auto",
    date_header: bool = True,
) -> Iterator[str]:
    """Serve an ASGI app (the emulator, segport's API) from a background thread on a loopback port."""
    chosen = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=chosen, log_level="error", lifespan=lifespan, date_header=date_header
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {name} did not start on port {chosen}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{chosen}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until_healthy(base_url: str, seconds: float = 30.0, path: str = "/_emulator/health") -> bool:
    """Poll a health endpoint (the emulator's, unless told) until it answers (True) or `seconds` pass (False)."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def settings_for_emulator(
    base_url: str, *, home: Path, user: str, database_url: str | None = None, **overrides: Any
) -> Settings:
    """Settings that point segport at an emulator (its API, OAuth server and published test credentials).

    Built explicitly, not from the environment, so a SEGPORT_ variable of the caller cannot leak in.
    """
    values: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "secret_key": None,
        "user": user,
        "cc_api_base": f"{base_url}/v3",
        "cc_auth_base": f"{base_url}/oauth2/default/v1",
        "cc_client_id": DEFAULT_CLIENT_ID,
        "cc_client_secret": SecretStr(DEFAULT_CLIENT_SECRET),
        **overrides,
    }
    return Settings.model_validate(values)
