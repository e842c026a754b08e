"""The HTTP edge: every inbound endpoint, at the default team's bare paths and per team.

Each request is checked cheapest first: client rate limit, content type, declared size,
team, body size while reading, authentication, replay, parsing, team rate limit. Only then
is anything appended, and 202 is answered after the append committed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from opentelemetry import trace
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from figsync_ingest import emails, figma_webhooks, notion_webhooks, signatures
from figsync_ingest.errors import Rejected, install_error_handlers
from figsync_ingest.handlers import (
    Delivery,
    Ingest,
    Outcome,
    accept_comment,
    accept_email,
    accept_notion,
    replayed,
)
from figsync_runtime.edge import (
    NETWORK_REFUSED,
    NetworkAllowList,
    SecurityHeaders,
    allowed,
    client_address,
    network_refused_message,
    parse_networks,
)
from figsync_runtime.teams import DEFAULT_TEAM

log = structlog.get_logger("figsync.ingest")
tracer = trace.get_tracer("figsync.ingest")

REQUESTS = Counter(
    "figsync_ingest_requests_total",
    "Inbound requests by endpoint and outcome",
    ["endpoint", "outcome"],
)
LATENCY = Histogram("figsync_ingest_request_seconds", "Inbound request handling time", ["endpoint"])

JSON = "application/json"
MIME = "message/rfc822"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class Accepted(BaseModel):
    status: str
    job_id: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Pong(BaseModel):
    status: str


# -- checks ---------------------------------------------------------------------------


def _too_many(what: str, wait: int) -> Rejected:
    return Rejected(
        429,
        "ingest.rate_limited",
        f"too many requests {what}; retry after {wait} s",
        headers={"Retry-After": str(wait)},
    )


def media_type(request: Request, accepted: tuple[str, ...]) -> str:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in accepted:
        raise Rejected(
            415,
            "ingest.unsupported_media_type",
            f"Content-Type {media or '(none)'!r} is not accepted here; send {' or '.join(accepted)}",
        )
    return media


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never read whole first)."""
    too_large = Rejected(413, "ingest.body_too_large", f"the body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class Edge:
    """The request checks and endpoints, over the handlers' dependencies."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.settings = ingest.settings

    async def _gate(self, request: Request, accepted: tuple[str, ...], team: str) -> str:
        address = client_address(request, self.settings.trusted_proxy_hops)
        wait = self.ingest.source_limits.take(address)
        if wait:
            raise _too_many("from this address", wait)
        media = media_type(request, accepted)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            raise Rejected(
                413,
                "ingest.body_too_large",
                f"the body is larger than {self.settings.max_body_bytes} bytes",
            )
        if not await self.ingest.teams.exists(team):
            raise Rejected(404, "ingest.unknown_team", f"there is no team {team!r}")
        await self._network_allowed(request, team)
        return media

    async def _network_allowed(self, request: Request, team: str) -> None:
        """The team's own allow-list (the global one is a middleware, before any route)."""
        networks = parse_networks(await self.ingest.teams.allowed_networks(team))
        address = client_address(request, self.settings.trusted_proxy_hops)
        if not allowed(address, networks):
            raise Rejected(403, NETWORK_REFUSED, network_refused_message(address, team))

    async def _secret(self, team: str, name: str, how: str) -> str:
        secret = await self.ingest.teams.secret(team, name)
        if not secret:
            raise Rejected(
                403,
                "ingest.not_configured",
                f"this endpoint is off for team {team!r}: {how}",
            )
        return secret

    async def _body(self, request: Request) -> bytes:
        return await read_body(request, self.settings.max_body_bytes)

    async def _not_replayed(self, team: str, delivery: Delivery) -> None:
        if await replayed(self.ingest, team, delivery):
            raise Rejected(
                409,
                "ingest.replayed",
                f"delivery {delivery.id!r} was already accepted; a new delivery needs a new id",
            )

    async def _accept_email(
        self,
        request: Request,
        team: str,
        explicit: bool,
        email: emails.InboundEmail,
        delivery: Delivery | None,
    ) -> Outcome:
        target = team
        if not explicit:
            target = await self.ingest.teams.team_for(email.recipients) or team
            if target != team:  # routed by recipient: that team's allow-list applies too
                await self._network_allowed(request, target)
        wait = self.ingest.team_limits.take(target)
        if wait:
            raise _too_many(f"for team {target!r}", wait)
        return await accept_email(self.ingest, target, email, delivery)

    # -- endpoints ----------------------------------------------------------------------

    async def email_json(self, request: Request, team: str, explicit: bool) -> Outcome:
        await self._gate(request, (JSON,), team)
        secret = await self._secret(team, "email_webhook_secret", _EMAIL_SECRET_HOW)
        body = await self._body(request)
        delivery = self._verify_email(secret, request.headers, body)
        if delivery:
            await self._not_replayed(team, delivery)
        return await self._accept_email(
            request, team, explicit, emails.parse_seed_json(body), delivery
        )

    async def email_mime(self, request: Request, team: str, explicit: bool) -> Outcome:
        await self._gate(request, (MIME,), team)
        secret = await self._secret(team, "email_webhook_secret", _EMAIL_SECRET_HOW)
        body = await self._body(request)
        delivery = self._verify_email(secret, request.headers, body)
        if delivery:
            await self._not_replayed(team, delivery)
        return await self._accept_email(request, team, explicit, emails.parse_mime(body), delivery)

    def _verify_email(
        self, secret: str, headers: Mapping[str, str], body: bytes
    ) -> Delivery | None:
        legacy = headers.get("x-webhook-signature")
        if legacy and not headers.get("webhook-signature"):
            if not self.settings.legacy_signature_enabled:
                raise Rejected(
                    401,
                    "ingest.legacy_signature_disabled",
                    "x-webhook-signature is accepted only with "
                    "FIGSYNC_LEGACY_SIGNATURE_ENABLED=true; sign per Standard Webhooks instead",
                )
            signatures.verify_legacy_hex(secret, legacy, body)
            return None
        webhook_id, _ = signatures.verify_standard(
            secret, headers, body, time.time(), self.settings.timestamp_tolerance_seconds
        )
        return Delivery("standard-webhooks", webhook_id)

    async def mailgun(self, request: Request, team: str, explicit: bool) -> Outcome:
        media = await self._gate(request, (URLENCODED, MULTIPART), team)
        key = await self._secret(
            team, "mailgun_signing_key", "set the team's mailgun_signing_key secret"
        )
        body = await self._body(request)
        fields = emails.parse_form(media, request.headers.get("content-type", ""), body)

        def field(name: str) -> str:
            found = fields.get(name)
            return found.text() if found else ""

        token = field("token")
        signatures.verify_mailgun(
            key,
            field("timestamp"),
            token,
            field("signature"),
            time.time(),
            self.settings.timestamp_tolerance_seconds,
        )
        delivery = Delivery("mailgun", token)
        await self._not_replayed(team, delivery)
        return await self._accept_email(
            request, team, explicit, emails.parse_mailgun(fields), delivery
        )

    async def sendgrid(self, request: Request, team: str, explicit: bool) -> Outcome:
        media = await self._gate(request, (MULTIPART, URLENCODED), team)
        password = await self._secret(
            team, "sendgrid_password", "set the team's sendgrid_password secret"
        )
        signatures.verify_basic_auth(password, request.headers.get("authorization", ""), "SendGrid")
        body = await self._body(request)
        fields = emails.parse_form(media, request.headers.get("content-type", ""), body)
        return await self._accept_email(
            request, team, explicit, emails.parse_sendgrid(fields), None
        )

    async def postmark(self, request: Request, team: str, explicit: bool) -> Outcome:
        await self._gate(request, (JSON,), team)
        password = await self._secret(
            team, "postmark_password", "set the team's postmark_password secret"
        )
        signatures.verify_basic_auth(password, request.headers.get("authorization", ""), "Postmark")
        body = await self._body(request)
        return await self._accept_email(request, team, explicit, emails.parse_postmark(body), None)

    async def figma(self, request: Request, team: str, explicit: bool) -> Outcome | Response:
        await self._gate(request, (JSON,), team)
        passcode = await self._secret(
            team,
            "figma_webhook_passcode",
            "set FIGSYNC_FIGMA_WEBHOOK_PASSCODE or the team's figma_webhook_passcode secret",
        )
        body = await self._body(request)
        payload = figma_webhooks.parse_payload(body)
        figma_webhooks.check_passcode(passcode, payload)
        if payload.event_type == "PING":
            return JSONResponse({"status": "ok"})
        if payload.event_type != "FILE_COMMENT":
            return JSONResponse({"status": "ignored"})
        comment = figma_webhooks.comment_received(payload)
        wait = self.ingest.team_limits.take(team)
        if wait:
            raise _too_many(f"for team {team!r}", wait)
        return await accept_comment(self.ingest, team, comment)

    async def notion(self, request: Request, team: str, explicit: bool) -> Outcome | Response:
        await self._gate(request, (JSON,), team)
        body = await self._body(request)
        token = await self.ingest.teams.secret(team, "notion_webhook_token")
        offered = notion_webhooks.handshake_token(body)
        if offered is not None:
            if token and not await self.ingest.teams.notion_token_unseen(team):
                raise Rejected(
                    409,
                    "ingest.notion_already_verified",
                    f"team {team!r} already verified a Notion subscription; to start over, set "
                    "the team's notion_webhook_token secret to the new subscription's token",
                )
            await self.ingest.teams.keep_notion_token(team, offered)
            return JSONResponse({"status": "verification_token_received"})
        if not token:
            raise Rejected(
                403,
                "ingest.not_configured",
                f"Notion webhooks are off for team {team!r}: create the subscription in Notion "
                "with this URL; its verification request sets the token",
            )
        notion_webhooks.check_signature(token, body, request.headers.get("x-notion-signature"))
        event = notion_webhooks.parse_event(body)
        age = (self.ingest.now() - event.timestamp).total_seconds()
        if age > self.settings.delivery_id_retention_seconds:
            raise Rejected(
                401,
                "ingest.notion_event_too_old",
                f"the Notion event is {age:.0f}s old, older than replays are remembered "
                f"({self.settings.delivery_id_retention_seconds}s), so it cannot be told from a "
                "replay; the Notion poll picks the change up instead",
            )
        delivery = Delivery("notion", event.id)
        await self._not_replayed(team, delivery)
        changed = notion_webhooks.page_changed(event)
        if changed is None:
            return JSONResponse({"status": "ignored"})
        return await accept_notion(self.ingest, team, changed, delivery)


_EMAIL_SECRET_HOW = (
    "set FIGSYNC_EMAIL_WEBHOOK_SECRET (whsec_…) or the team's email_webhook_secret secret"
)

Handler = Callable[[Edge, Request, str, bool], Awaitable[Any]]

# name, path under /inbound, handler, summary, request body content
ENDPOINTS: list[tuple[str, str, Handler, str, dict[str, Any]]] = [
    (
        "email",
        "/email",
        Edge.email_json,
        "An inbound email as JSON, signed per Standard Webhooks",
        {JSON: {"schema": {"$ref": "#/components/schemas/SeedEmail"}}},
    ),
    (
        "email_mime",
        "/email/mime",
        Edge.email_mime,
        "A raw RFC 822 email, signed per Standard Webhooks",
        {MIME: {"schema": {"type": "string", "format": "binary"}}},
    ),
    (
        "mailgun",
        "/mailgun",
        Edge.mailgun,
        "A Mailgun route's forward() (timestamp/token/signature with the signing key)",
        {
            URLENCODED: {"schema": {"type": "object"}},
            MULTIPART: {"schema": {"type": "object"}},
        },
    ),
    (
        "sendgrid",
        "/sendgrid",
        Edge.sendgrid,
        "SendGrid Inbound Parse (Basic auth: the team's SendGrid password)",
        {MULTIPART: {"schema": {"type": "object"}}},
    ),
    (
        "postmark",
        "/postmark",
        Edge.postmark,
        "Postmark's inbound webhook (Basic auth: the team's Postmark password)",
        {JSON: {"schema": {"$ref": "#/components/schemas/PostmarkInbound"}}},
    ),
    (
        "figma",
        "/figma",
        Edge.figma,
        "Figma webhooks V2: PING and FILE_COMMENT (passcode checked)",
        {JSON: {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}},
    ),
    (
        "notion",
        "/notion",
        Edge.notion,
        "Notion webhooks: the verification handshake, then page events (X-Notion-Signature)",
        {JSON: {"schema": {"$ref": "#/components/schemas/NotionEvent"}}},
    ),
]

_ERRORS = {
    str(status): {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Malformed body or wrong passcode"),
        (401, "Bad or missing signature or credentials, stale timestamp"),
        (403, "The endpoint has no secret configured for the team"),
        (404, "Unknown team"),
        (409, "Replayed delivery id"),
        (413, "Body too large"),
        (415, "Wrong content type"),
        (422, "Readable, but not a usable email or comment"),
        (429, "Rate limited (see Retry-After)"),
    )
}


def _endpoint(edge: Edge, name: str, path: str, handler: Handler, explicit: bool):
    async def observe(request: Request, team: str) -> Response:
        started = time.perf_counter()
        with tracer.start_as_current_span(
            f"POST {path}", kind=trace.SpanKind.SERVER, attributes={"figsync.team": team}
        ) as span:
            try:
                result = await handler(edge, request, team, explicit)
            except Rejected as rejected:
                REQUESTS.labels(name, rejected.code).inc()
                span.set_attribute("figsync.rejected", rejected.code)
                log.info("inbound rejected", endpoint=name, team=team, code=rejected.code)
                raise
            finally:
                LATENCY.labels(name).observe(time.perf_counter() - started)
            if isinstance(result, Outcome):
                REQUESTS.labels(name, result.status).inc()
                span.set_attribute("figsync.job_id", result.job_id)
                return JSONResponse(
                    {"status": result.status, "job_id": result.job_id}, result.http_status
                )
            REQUESTS.labels(name, "answered").inc()
            return result

    if explicit:

        async def team_endpoint(team: str, request: Request) -> Response:
            return await observe(request, team)

        return team_endpoint

    async def default_endpoint(request: Request) -> Response:
        return await observe(request, DEFAULT_TEAM)

    return default_endpoint


def _component_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models = (emails.SeedEmail, emails.PostmarkInbound, figma_webhooks.WebhookPayload,
              notion_webhooks.NotionEvent)  # fmt: skip
    for model in models:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def create_app(ingest: Ingest) -> FastAPI:
    """The ingest FastAPI app (health and metrics routes are added by the runtime)."""
    app = FastAPI(
        title="figsync ingest",
        version="1",
        description="Signed inbound email and Figma webhooks into figsync's event store.",
    )
    install_error_handlers(app)
    settings = ingest.settings
    app.add_middleware(
        NetworkAllowList,
        networks=settings.allowed_networks,
        trusted_hops=settings.trusted_proxy_hops,
    )
    app.add_middleware(SecurityHeaders)  # outermost: refusals of the allow-list get them too
    edge = Edge(ingest)
    for name, path, handler, summary, content in ENDPOINTS:
        for explicit, prefix in ((False, "/v1/inbound"), (True, "/v1/teams/{team}/inbound")):
            app.add_api_route(
                prefix + path,
                _endpoint(edge, name, prefix + path, handler, explicit),
                methods=["POST"],
                summary=summary + (" (for one team)" if explicit else " (default team)"),
                operation_id=f"{name}_{'team' if explicit else 'default'}",
                status_code=202,
                response_model=Accepted,
                responses={
                    "200": {"model": Accepted, "description": "Duplicate (or PING answered)"},
                    **_ERRORS,
                },
                openapi_extra={"requestBody": {"required": True, "content": content}},
                tags=["inbound"],
            )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                _component_schemas()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
