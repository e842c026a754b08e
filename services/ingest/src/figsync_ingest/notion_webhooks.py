"""Notion webhooks: the one-time verification handshake and signed page events.

Notion first POSTs `{"verification_token": ...}` (unsigned); figsync keeps the token as the
team's `notion_webhook_token` secret and the dashboard shows it once, to be pasted into
Notion. Every later request carries `X-Notion-Signature: sha256=<HMAC-SHA256 of the raw body
keyed by that token>`; an event id seen before is a replay. Events may aggregate or arrive out
of order, so figsync only notes that a page changed and reads the page itself.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from figsync_contracts import NotionPageChanged
from figsync_ingest.emails import first_error, invalid, json_object
from figsync_ingest.errors import Rejected

SIGNATURE_HEADER = "x-notion-signature"


class Entity(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(max_length=50)


class NotionEvent(BaseModel):
    """The fields of a Notion webhook event that figsync reads."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100)
    timestamp: datetime
    entity: Entity


def handshake_token(body: bytes) -> str | None:
    """The verification token if this is Notion's one-time handshake."""
    data = json_object(body, "a Notion webhook event")
    token = data.get("verification_token")
    if token is None:
        return None
    if not isinstance(token, str) or not 8 <= len(token) <= 200 or not token.isprintable():
        raise invalid("ingest.invalid_webhook", "verification_token: not a Notion token")
    return token


def check_signature(token: str, body: bytes, header: str | None) -> None:
    """Constant-time check of X-Notion-Signature against the raw body."""
    if not header:
        raise Rejected(
            401, "ingest.missing_signature", "the request has no X-Notion-Signature header"
        )
    expected = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise Rejected(
            401,
            "ingest.bad_signature",
            "X-Notion-Signature does not match the body signed with the team's verification "
            "token (was the subscription verified with another token?)",
        )


def parse_event(body: bytes) -> NotionEvent:
    data = json_object(body, "a Notion webhook event")
    try:
        return NotionEvent.model_validate(data)
    except ValidationError as error:
        raise invalid("ingest.invalid_webhook", first_error(error)) from None


def page_changed(event: NotionEvent) -> NotionPageChanged | None:
    """The page event figsync acts on; None for anything else (databases, comments...)."""
    if event.entity.type != "page" or not event.type.startswith("page."):
        return None
    return NotionPageChanged(
        page_id=event.entity.id,
        notion_event_id=event.id,
        notion_event_type=event.type,
        timestamp=event.timestamp,
    )
