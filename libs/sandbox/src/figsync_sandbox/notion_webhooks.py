"""Notion's webhooks: one subscription, the verification handshake, signed events with retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from figsync_sandbox.background import schedule

WORKSPACE_NAME = "figsync sandbox"
MAX_ATTEMPTS = 8  # Notion's attempt_number runs from 1 to 8
DEFAULT_RETRY_DELAYS = (0.05, 0.1, 0.2)
DEFAULT_ATTEMPTS = 4


def sign(verification_token: str, raw: bytes) -> str:
    """The X-Notion-Signature value: sha256=<hex HMAC-SHA256 of the raw body, keyed by the token>."""
    return "sha256=" + hmac.new(verification_token.encode(), raw, hashlib.sha256).hexdigest()


def iso_ms(ts: datetime) -> str:
    """Notion's event timestamp: UTC with milliseconds and a Z."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Subscription:
    """Where events go and the token that signs them."""

    id: str
    url: str
    verification_token: str
    on_api_changes: bool = True
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    max_attempts: int = DEFAULT_ATTEMPTS

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), retry_delays=list(self.retry_delays))


@dataclass
class Event:
    """One change, as every attempt to deliver it shows it (only attempt_number differs)."""

    id: str
    type: str
    timestamp: str
    workspace_id: str
    subscription_id: str
    integration_id: str
    authors: list[dict[str, str]]
    entity: dict[str, str]
    data: dict[str, Any]

    def body(self, attempt: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": self.timestamp,
            "workspace_id": self.workspace_id,
            "workspace_name": WORKSPACE_NAME,
            "subscription_id": self.subscription_id,
            "integration_id": self.integration_id,
            "type": self.type,
            "authors": [dict(a) for a in self.authors],
            "attempt_number": attempt,
            "entity": dict(self.entity),
            "data": json.loads(json.dumps(self.data)),
        }


@dataclass
class Delivery:
    """One POST to the subscriber: a handshake, an event attempt, a replay or a hand-made body."""

    kind: str  # "verification" | "event" | "replay" | "custom"
    url: str
    body: str
    signature: str | None
    event_id: str | None = None
    type: str | None = None
    page_id: str | None = None
    attempt: int | None = None
    status: int | None = None
    error: str | None = None
    at: str = field(default_factory=lambda: iso_ms(datetime.now(UTC)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NotionWebhooks:
    """The webhook side of the Notion sandbox; deliveries run on the server's event loop."""

    def __init__(
        self,
        *,
        workspace_id: str,
        integration_id: str,
        seed: Callable[[], int],
        loop: Callable[[], asyncio.AbstractEventLoop | None],
    ) -> None:
        self.workspace_id = workspace_id
        self.integration_id = integration_id
        self._seed = seed
        self._loop = loop
        self.subscription: Subscription | None = None
        self.events: dict[str, Event] = {}
        self.deliveries: list[Delivery] = []
        self._counter = 0
        self._generation = 0
        self._pending: set[asyncio.Future[Any]] = set()

    def reset(self) -> None:
        """Forget the subscription, events and deliveries; in-flight retries stop recording."""
        self.subscription = None
        self.events = {}
        self.deliveries = []
        self._counter = 0
        self._generation += 1

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self._seed()}/webhook/{kind}/{self._counter}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    # -- configuration ----------------------------------------------------------------
    def subscribe(
        self,
        url: str,
        *,
        verification_token: str | None = None,
        on_api_changes: bool = True,
        retry_delays: tuple[float, ...] | None = None,
        max_attempts: int | None = None,
    ) -> Subscription:
        """Replace the subscription; a token is generated (secret_…) unless given."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"notion.bad_webhook_url: {url!r} is not an http(s) URL")
        attempts = DEFAULT_ATTEMPTS if max_attempts is None else max_attempts
        if not 1 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(f"notion.bad_webhook_attempts: max_attempts must be 1-{MAX_ATTEMPTS}")
        if verification_token is None:
            verification_token = "secret_" + self._new_id("token").replace("-", "")
        if not verification_token:
            raise ValueError("notion.bad_verification_token: it must be a non-empty string")
        self.subscription = Subscription(
            id=self._new_id("subscription"),
            url=url,
            verification_token=verification_token,
            on_api_changes=on_api_changes,
            retry_delays=tuple(DEFAULT_RETRY_DELAYS if retry_delays is None else retry_delays),
            max_attempts=attempts,
        )
        return self.subscription

    def unsubscribe(self) -> None:
        self.subscription = None

    # -- events -----------------------------------------------------------------------
    def record(
        self,
        type_: str,
        entity: dict[str, str],
        data: dict[str, Any],
        author: dict[str, str],
        *,
        via_api: bool,
        at: datetime | None = None,
    ) -> str | None:
        """Create an event for a change and send it in the background; None if none is due.

        Changes made through the API only produce events when the subscription asks for them
        (`on_api_changes`), as Notion sends events for a bot's own edits. `at` is when the
        change happened (the event's timestamp).
        """
        sub = self.subscription
        if sub is None or (via_api and not sub.on_api_changes):
            return None
        event = Event(
            id=self._new_id("event"),
            type=type_,
            timestamp=iso_ms(at or datetime.now(UTC)),
            workspace_id=self.workspace_id,
            subscription_id=sub.id,
            integration_id=self.integration_id,
            authors=[author],
            entity=entity,
            data=data,
        )
        self.events[event.id] = event
        self._schedule(self.deliver(event.id))
        return event.id

    def _schedule(self, coro: Any) -> None:
        schedule(self._loop(), coro, self._pending)

    async def deliver(self, event_id: str) -> list[Delivery]:
        """POST an event until the subscriber answers 2xx, at most max_attempts times."""
        event, sub, generation = self.events[event_id], self.subscription, self._generation
        if sub is None:
            return []
        attempts: list[Delivery] = []
        for attempt in range(1, sub.max_attempts + 1):
            raw = encode(event.body(attempt))
            delivery = Delivery(
                "event",
                sub.url,
                raw.decode(),
                sign(sub.verification_token, raw),
                event_id=event.id,
                type=event.type,
                page_id=event.entity["id"],
                attempt=attempt,
            )
            await self._post(delivery, raw)
            if generation != self._generation:
                break
            attempts.append(delivery)
            self.deliveries.append(delivery)
            if delivery.status is not None and 200 <= delivery.status < 300:
                break
            if attempt < sub.max_attempts:
                delays = sub.retry_delays or (0.0,)
                await asyncio.sleep(delays[min(attempt - 1, len(delays) - 1)])
        return attempts

    async def verify(self) -> Delivery:
        """The one-time handshake: {"verification_token": …} with no signature header."""
        sub = self._require()
        raw = encode({"verification_token": sub.verification_token})
        return await self._send(Delivery("verification", sub.url, raw.decode(), None), raw)

    async def replay(
        self, event_id: str, attempt: int | None = None, url: str | None = None
    ) -> Delivery:
        """Send an earlier delivery of an event again, byte for byte (same body, same signature)."""
        sent = [d for d in self.deliveries if d.kind == "event" and d.event_id == event_id]
        if attempt is not None:
            sent = [d for d in sent if d.attempt == attempt]
        if not sent:
            raise KeyError(f"notion.webhook_event_not_found: no delivery of event {event_id!r}")
        last = sent[-1]
        replay = Delivery(
            "replay",
            url or last.url,
            last.body,
            last.signature,
            event_id=last.event_id,
            type=last.type,
            page_id=last.page_id,
            attempt=last.attempt,
        )
        return await self._send(replay, last.body.encode())

    async def send(self, raw: bytes, signature: str | None, url: str | None = None) -> Delivery:
        """POST a hand-made (possibly forged) body once, with the given signature header."""
        target = url or self._require().url
        return await self._send(Delivery("custom", target, raw.decode(), signature), raw)

    def _require(self) -> Subscription:
        if self.subscription is None:
            raise ValueError(
                "notion.webhook_not_configured: POST /_sandbox/webhooks with a url first"
            )
        return self.subscription

    async def _send(self, delivery: Delivery, raw: bytes) -> Delivery:
        await self._post(delivery, raw)
        self.deliveries.append(delivery)
        return delivery

    @staticmethod
    async def _post(delivery: Delivery, raw: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "notion-api"}
        if delivery.signature is not None:
            headers["X-Notion-Signature"] = delivery.signature
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                resp = await client.post(delivery.url, content=raw, headers=headers)
            delivery.status = resp.status_code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "webhook": self.subscription.to_dict() if self.subscription else None,
            "webhook_events": [
                {k: v for k, v in e.body(1).items() if k != "attempt_number"}
                for e in self.events.values()
            ],
            "webhook_deliveries": [d.to_dict() for d in self.deliveries],
        }
