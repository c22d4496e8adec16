"""Where a Web Push endpoint may point: the URL is chosen by the client, so without these
checks the server would POST wherever a user asks (its own network, a cloud metadata
address): a server-side request forgery tool.

Accepted: `https://` URLs without credentials whose host is one of PUSH_ALLOWED_HOSTS (the
browsers' push services by default; `*.example.com` matches subdomains) or, with that list
emptied, any host that resolves only to public addresses. With DEBUG on, `http://` to a
loopback address too, for a local test push service. A known push service is accepted at
registration without a DNS lookup; every send resolves the host and connects only to public
addresses it checked (push/webpush.py connects to the checked address, so a DNS answer that
changes between the check and the connection cannot redirect it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_ENDPOINT_LENGTH = 1000


class EndpointRefused(ValueError):
    """The endpoint is not one the server will send to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent


def parse(url: object) -> Target:
    """The endpoint's parts, or EndpointRefused for a URL no send may use."""
    if not isinstance(url, str) or not url or len(url) > MAX_ENDPOINT_LENGTH:
        raise EndpointRefused("endpoint must be a URL of at most 1000 characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("endpoint must not carry credentials")
    if not host:
        raise EndpointRefused("endpoint must name a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("endpoint has an invalid port") from None
    local_test_service = parts.scheme == "http" and settings.DEBUG and _is_loopback_name(host)
    if parts.scheme != "https" and not local_test_service:
        raise EndpointRefused("endpoint must be an https:// URL")
    allowed = tuple(settings.BANTER["PUSH_ALLOWED_HOSTS"])
    if allowed and not local_test_service and not any(_host_matches(host, p) for p in allowed):
        raise EndpointRefused("endpoint's host is not an allowed push service")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path)


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def check_addresses(target: Target, addresses: list[str]) -> list[str]:
    """The addresses a send may connect to: all of them public (loopback too for a DEBUG
    http:// endpoint), or EndpointRefused. One private answer refuses the whole name: a
    host that resolves partly inside the network is not a push service."""
    if not addresses:
        raise EndpointRefused("endpoint's host does not resolve")
    loopback_ok = target.scheme == "http"  # parse() allowed it: DEBUG and a loopback name
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_global or (loopback_ok and ip.is_loopback):
            continue
        raise EndpointRefused("endpoint's host resolves to a non-public address")
    return addresses


def check_registration(url: object) -> Target:
    """The endpoint of a device being registered: parsed, and resolved to public addresses
    unless its host is an allowed push service (known by name; the send still checks)."""
    target = parse(url)
    if not settings.BANTER["PUSH_ALLOWED_HOSTS"] or target.scheme == "http":
        resolve(target)
    return target


def resolve(target: Target) -> list[str]:
    """Checked addresses, resolving in this thread (registration runs in a worker)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        raise EndpointRefused("endpoint's host does not resolve") from None
    return check_addresses(target, sorted({str(info[4][0]) for info in infos}))


async def resolve_async(target: Target) -> list[str]:
    """Checked addresses, resolved on the event loop's resolver (each send)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        raise EndpointRefused("endpoint's host does not resolve") from None
    return check_addresses(target, sorted({str(info[4][0]) for info in infos}))
