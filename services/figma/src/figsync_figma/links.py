"""Figma file URLs, and resolving click-tracking links safely (they come from untrusted mail).

A tracking link is an outbound request built from untrusted input. It is followed only over
https, only to allow-listed Figma hosts, never to private, loopback or link-local addresses,
one hop at a time (no automatic redirects), at most `max_hops`, with a short timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from opentelemetry import trace

_FILE_PATH = re.compile(
    r"^/(?:file|design|board|proto|slides|deck)/([A-Za-z0-9]{10,64})"
    r"(?:/[^/]*)?(?:/branch/([A-Za-z0-9]{10,64}))?"
)
tracer = trace.get_tracer("figsync.figma.links")
FIGMA_HOSTS = frozenset({"figma.com", "www.figma.com", "click.figma.com", "email.figma.com"})


def file_key_from_url(url: str) -> str | None:
    """The file key in a figma.com file URL (/file, /design, /board, /proto; a branch's key
    when the URL is a branch), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in ("figma.com", "www.figma.com"):
        return None
    match = _FILE_PATH.match(parts.path)
    if not match:
        return None
    return match.group(2) or match.group(1)


class LinkRefused(ValueError):
    """The link may not be followed; the message says why (a stable code first)."""


@dataclass(frozen=True)
class LinkPolicy:
    """What a tracking link may lead to. `test_insecure_hosts` (host:port pairs allowed over
    http on any address) exists for tests against a local sandbox and is empty by default."""

    allowed_hosts: frozenset[str] = FIGMA_HOSTS
    max_hops: int = 5
    timeout: float = 3.0
    test_insecure_hosts: frozenset[str] = field(default_factory=frozenset)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


async def _check_target(url: str, policy: LinkPolicy) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    if netloc in policy.test_insecure_hosts:
        return
    if parts.scheme != "https":
        raise LinkRefused(f"link.not_https: {parts.scheme or 'no'} scheme refused")
    if host not in policy.allowed_hosts:
        raise LinkRefused(f"link.host_not_allowed: {host or 'no host'} is not a Figma host")
    if parts.username or parts.password:
        raise LinkRefused("link.credentials_in_url: user info in a link is refused")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443,
                                                             type=socket.SOCK_STREAM)  # fmt: skip
    except OSError as error:
        raise LinkRefused(f"link.unresolvable: {host} does not resolve") from error
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise LinkRefused(f"link.private_address: {host} resolves to {address}")


async def resolve_tracking_link(url: str, http: httpx.AsyncClient, policy: LinkPolicy) -> str:
    """Follow redirects one checked hop at a time; return the first Figma file URL reached."""
    seen: set[str] = set()
    current = url
    for _ in range(policy.max_hops + 1):
        if file_key_from_url(current):
            return current
        if current in seen:
            raise LinkRefused("link.redirect_loop: the link redirects in a circle")
        seen.add(current)
        await _check_target(current, policy)
        with tracer.start_as_current_span(
            "figma GET link",
            kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": "GET", "server.address": urlsplit(current).netloc},
        ):
            try:
                response = await http.get(current, follow_redirects=False, timeout=policy.timeout)
            except httpx.HTTPError as error:
                raise LinkRefused(f"link.unreachable: {type(error).__name__}") from error
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise LinkRefused(f"link.no_redirect: the link answered {response.status_code}")
        current = urljoin(current, location)
    raise LinkRefused(f"link.too_many_hops: more than {policy.max_hops} redirects")
