"""Signing helpers and secrets shared by the ingest tests (imported as `ingest_testing`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from figsync_ingest.signatures import sign_mailgun, sign_standard

EMAIL_SECRET = "whsec_" + base64.b64encode(b"figsync-ingest-test-secret-32byt").decode()
ACME_SECRET = "whsec_" + base64.b64encode(b"acme-team-email-webhook-secret!!").decode()
PASSCODE = "figma-passcode-for-tests"
MAILGUN_KEY = "key-mailgun-signing-for-tests"
SENDGRID_PASSWORD = "sendgrid-password-for-tests"
POSTMARK_PASSWORD = "postmark-password-for-tests"
ACME_ADDRESS = "figsync+acme@inbound.example.com"


def standard_headers(
    body: bytes,
    secret: str = EMAIL_SECRET,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": content_type,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(secret, webhook_id, timestamp, body),
    }


def mailgun_fields(key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    return {"timestamp": ts, "token": token, "signature": sign_mailgun(key, ts, token)}


def basic(password: str, user: str = "figsync") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def legacy_signature(body: bytes, secret: str = EMAIL_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
