"""What every public HTTP edge of figsync (the ingest, the projector's API and dashboard) shares:
the client's address behind trusted proxies, network allow-lists, and security headers.

Both are pure ASGI middlewares (not Starlette's BaseHTTPMiddleware), so streamed responses
(server-sent events) pass through unbuffered.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from typing import Annotated

import structlog
from pydantic import field_validator
from pydantic_settings import NoDecode
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from figsync_runtime.settings import RuntimeSettings

log = structlog.get_logger("figsync.edge")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NETWORK_REFUSED = "access.network_refused"
# Probes and Prometheus reach these from inside the cluster; they are never limited by network.
INFRA_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR networks (a bare address is a /32 or /128); ValueError names the bad entry."""
    found: list[Network] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            found.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"{text[:60]!r} is not a network in CIDR notation (e.g. 10.0.0.0/8, "
                "2001:db8::/32, or a single address)"
            ) from None
    return tuple(found)


def check_networks(values: Iterable[str]) -> list[str]:
    """The networks, validated and normalized (host bits cleared), without duplicates."""
    return list(dict.fromkeys(str(n) for n in parse_networks(values)))


def allowed(address: str, networks: Sequence[Network]) -> bool:
    """True when there is no allow-list, or the address is in one of its networks."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # "unknown" (no peer) or garbage: never inside a list
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks if network.version == ip.version)


def client_address(conn: HTTPConnection, trusted_hops: int) -> str:
    """The client's address: with `trusted_hops` proxies in front, the X-Forwarded-For entry
    the outermost trusted proxy appended (entries left of it are the client's own claims and
    are never believed); with none, the TCP peer."""
    if trusted_hops > 0:
        forwarded = [
            a.strip() for a in conn.headers.get("x-forwarded-for", "").split(",") if a.strip()
        ]
        if len(forwarded) >= trusted_hops:
            return forwarded[-trusted_hops]
    return conn.client.host if conn.client else "unknown"


class EdgeSettings(RuntimeSettings):
    """Settings of a service with a public HTTP edge."""

    # Behind a proxy, the client is the right-most untrusted X-Forwarded-For address; set how
    # many proxies in front of the service append to it (0: use the TCP peer).
    trusted_proxy_hops: int = 0
    # Comma-separated CIDR networks allowed to reach the service (empty: everyone). Teams can
    # narrow it further (their `allowed_networks` setting).
    allowed_networks: Annotated[list[str], NoDecode] = []

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> list[str]:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list | tuple):
            raise ValueError("a comma-separated list of CIDR networks")
        return check_networks(str(v) for v in value)

    @field_validator("trusted_proxy_hops")
    @classmethod
    def _hops(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError("FIGSYNC_TRUSTED_PROXY_HOPS is the number of proxies, 0 to 10")
        return value


def _json(status: int, code: str, message: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return body, [(b"content-type", b"application/json"),
                  (b"content-length", str(len(body)).encode())]  # fmt: skip


async def _send_json(send: Send, status: int, code: str, message: str) -> None:
    body, headers = _json(status, code, message)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class NetworkAllowList:
    """Refuses requests from addresses outside the global allow-list with 403
    `access.network_refused` (health and metrics routes excepted)."""

    def __init__(self, app: ASGIApp, *, networks: Sequence[str], trusted_hops: int) -> None:
        self.app = app
        self.networks = parse_networks(networks)
        self.trusted_hops = trusted_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.networks or scope["path"] in INFRA_PATHS:
            await self.app(scope, receive, send)
            return
        address = client_address(HTTPConnection(scope), self.trusted_hops)
        if allowed(address, self.networks):
            await self.app(scope, receive, send)
            return
        log.info("request refused by network", client=address, path=scope["path"])
        await _send_json(send, 403, NETWORK_REFUSED, network_refused_message(address))


def network_refused_message(address: str, team: str | None = None) -> str:
    where = f"team {team!r}'s allowed_networks" if team else "FIGSYNC_ALLOWED_NETWORKS"
    return f"requests from {address} are not allowed here; add its network to {where}"


# --- security headers ---------------------------------------------------------------------------

# Every response: no MIME sniffing, no framing, no referrer leaving the site.
BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
# A response that is not a page loads nothing and may not be framed.
NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# A page without its own policy: only this origin's resources.
HTML_CSP = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
# FastAPI's /docs and /redoc load Swagger UI and ReDoc from jsDelivr and start them inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
INTERNAL_ERROR = "something went wrong on our side; it was logged — try again, or report it"


class SecurityHeaders:
    """Adds the security headers to every response a route did not set them on itself:
    nosniff, no framing, no referrer, a Content-Security-Policy (a strict one on anything that
    is not HTML), and `Cache-Control: no-store` except under `cacheable` path prefixes. An
    unhandled error becomes a JSON 500 with the same headers (then propagates to be logged)."""

    def __init__(self, app: ASGIApp, *, cacheable: Sequence[str] = ()) -> None:
        self.app = app
        self.cacheable = tuple(cacheable)

    def _headers(self, path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        added = [(k.encode(), v.encode()) for k, v in BASE_HEADERS.items()
                 if k.encode() not in present]  # fmt: skip
        if b"content-security-policy" not in present:
            kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            html = kind.split(b";")[0].strip().lower() == b"text/html"
            policy = (DOCS_CSP if path in DOCS_PATHS else HTML_CSP) if html else NON_HTML_CSP
            added.append((b"content-security-policy", policy.encode()))
        if b"cache-control" not in present and not path.startswith(self.cacheable):
            added.append((b"cache-control", b"no-store"))
        return [*headers, *added]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self._headers(path, list(message["headers"]))}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:  # the server's own 500 would go out without the headers
                body, headers = _json(500, "internal_error", INTERNAL_ERROR)
                await send({"type": "http.response.start", "status": 500,
                            "headers": self._headers(path, headers)})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
            raise
