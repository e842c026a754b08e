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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
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


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the address the policy checked for a host, never to a fresh DNS answer
    (a name that resolved to a public address for the check could rebind to a private one)."""

    def __init__(self) -> None:
        self.pins: dict[str, str] = {}
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Unpinned hosts are only the test override's (checked by host:port, not address).
        return await self._inner.connect_tcp(
            self.pins.get(host, host),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("links never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects to the address named by the request's
    `figsync_pinned_address` extension (TLS still verifies the host name)."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        self.backend = _PinnedBackend()
        # httpx 0.28 offers no way to pass a network backend, so its pool is replaced here.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=self.backend
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pinned = request.extensions.get("figsync_pinned_address")
        if pinned:
            self.backend.pins[request.url.host] = pinned
        return await super().handle_async_request(request)


def link_client() -> httpx.AsyncClient:
    """The HTTP client tracking links are followed with: no redirects, no proxies from the
    environment, connections pinned to the checked address."""
    return httpx.AsyncClient(transport=PinnedTransport(), follow_redirects=False, trust_env=False)


async def _check_target(url: str, policy: LinkPolicy) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    if netloc in policy.test_insecure_hosts:
        return None
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
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if not _is_public(address):
            raise LinkRefused(f"link.private_address: {host} resolves to {address}")
    if not addresses:
        raise LinkRefused(f"link.unresolvable: {host} has no address")
    return addresses[0]


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
        address = await _check_target(current, policy)
        pin = {"figsync_pinned_address": address} if address else {}
        with tracer.start_as_current_span(
            "figma GET link",
            kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": "GET", "server.address": urlsplit(current).netloc},
        ):
            try:
                response = await http.get(
                    current, follow_redirects=False, timeout=policy.timeout, extensions=pin
                )
            except httpx.HTTPError as error:
                raise LinkRefused(f"link.unreachable: {type(error).__name__}") from error
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise LinkRefused(f"link.no_redirect: the link answered {response.status_code}")
        current = urljoin(current, location)
    raise LinkRefused(f"link.too_many_hops: more than {policy.max_hops} redirects")
