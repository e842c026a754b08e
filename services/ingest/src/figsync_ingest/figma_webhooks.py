"""Figma webhooks V2: PING and FILE_COMMENT payloads (empty strings mean absent)."""

from __future__ import annotations

import hmac
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from figsync_contracts import CommentReceived
from figsync_ingest.emails import first_error, invalid, json_object
from figsync_ingest.errors import Rejected


class FigmaUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    handle: str = ""


class CommentFragment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    mention: str | None = None


class WebhookPayload(BaseModel):
    """The fields of WebhookPingPayload / WebhookFileCommentPayload that figsync reads."""

    model_config = ConfigDict(extra="ignore")

    event_type: str = ""
    passcode: str = ""
    webhook_id: str = ""
    timestamp: str = ""
    file_key: str = Field(default="", max_length=200)
    file_name: str = ""
    comment_id: str = Field(default="", max_length=200)
    parent_id: str | None = None
    created_at: str | None = None
    comment: list[CommentFragment] = Field(default_factory=list)
    mentions: list[FigmaUser] = Field(default_factory=list)
    triggered_by: FigmaUser | None = None


def parse_payload(body: bytes) -> WebhookPayload:
    data = json_object(body, "a Figma webhook V2 payload")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as error:
        raise invalid("ingest.invalid_webhook", first_error(error)) from None


def check_passcode(expected: str, payload: WebhookPayload) -> None:
    """Constant-time comparison; Figma's docs ask for 400 when the passcode does not match."""
    if not payload.passcode:
        raise Rejected(400, "ingest.missing_passcode", "the payload has no passcode")
    if not hmac.compare_digest(expected.encode(), payload.passcode.encode()):
        raise Rejected(
            400,
            "ingest.bad_passcode",
            "the passcode does not match the team's Figma webhook passcode",
        )


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def comment_received(payload: WebhookPayload) -> CommentReceived:
    """The CommentReceived a FILE_COMMENT payload reports; 422 without file key or comment id."""
    missing = [name for name in ("file_key", "comment_id") if not getattr(payload, name)]
    if missing:
        raise invalid("ingest.invalid_webhook", f"FILE_COMMENT without {' and '.join(missing)}")
    handles = {user.id: user.handle for user in payload.mentions if user.id and user.handle}
    text = "".join(
        f"@{handles.get(fragment.mention, fragment.mention)}"
        if fragment.mention
        else fragment.text or ""
        for fragment in payload.comment
    )
    author = payload.triggered_by or FigmaUser()
    return CommentReceived(
        origin="webhook",
        file_key=payload.file_key,
        file_name=payload.file_name,
        comment_id=payload.comment_id,
        parent_id=payload.parent_id or None,
        author_handle=author.handle,
        author_id=author.id or None,
        text=text,
        mentions=list(dict.fromkeys(u.handle for u in payload.mentions if u.handle)),
        created_at=_time(payload.created_at),
        webhook_id=payload.webhook_id or None,
    )
