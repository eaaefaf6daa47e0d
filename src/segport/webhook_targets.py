"""Where a webhook may point, and how its URL is shown: webhook URLs often carry a secret in their path, and
an address inside this machine's network would let anyone who may set a webhook probe it (169.254.169.254 is
where cloud machines hand out credentials)."""

from __future__ import annotations

import ipaddress
import socket

import httpx

from segport.errors import InvalidInput


def shown(url: str) -> str:
    """A webhook URL as events and logs show it: its host only (the path often carries a secret token)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(a webhook)"
    return f"{parsed.scheme}://{parsed.host}/…" if parsed.host else "(a webhook)"


def check_target(url: str, *, allow_internal: bool) -> None:
    """Refuse a URL that is not http(s), or whose host is (or resolves to) this machine, a private network or
    a link-local address (169.254.169.254 is where clouds answer with credentials), unless allowed."""
    parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        raise InvalidInput(
            f"{shown(url)!r} is not an http(s) URL.", hint="Pass a full URL, e.g. https://hooks.example.com/segport."
        )
    if allow_internal:
        return
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(parsed.host, parsed.port or 443)}
    except OSError:
        found = set()  # not resolvable now: checked again before each call
    for address in found | ({parsed.host} if _is_address(parsed.host) else set()):
        ip = ipaddress.ip_address(address.split("%")[0].strip("[]"))
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            raise InvalidInput(
                f"The webhook's host {parsed.host} is an internal address ({ip}); segport calls only public hosts.",
                hint="Use the public URL of the service, or set SEGPORT_WEBHOOK_ALLOW_INTERNAL=true if this "
                "machine's own network is meant.",
            )


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
