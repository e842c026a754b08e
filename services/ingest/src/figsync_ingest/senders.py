"""How senders sign what they deliver to the ingest: the sender's side of each scheme, for
test clients and `figsync send-email` (the ingest verifies with figsync_ingest.signatures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from figsync_ingest.signatures import sign_mailgun, sign_standard


def standard_headers(
    body: bytes,
    secret: str,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Standard Webhooks headers (and the content type) for one delivery of `body`."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": content_type,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(secret, webhook_id, timestamp, body),
    }


def mailgun_fields(key: str, timestamp: int | None = None) -> dict[str, str]:
    """The timestamp/token/signature form fields Mailgun adds to a route's POST."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    return {"timestamp": ts, "token": token, "signature": sign_mailgun(key, ts, token)}


def basic(password: str, user: str = "figsync") -> dict[str, str]:
    """The Authorization header of SendGrid's and Postmark's basic-auth deliveries."""
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def legacy_signature(body: bytes, secret: str) -> str:
    """The seed design's `x-webhook-signature`: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
