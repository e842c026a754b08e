"""Signing helpers and secrets shared by the ingest tests (imported as `ingest_testing`)."""

from __future__ import annotations

import base64
from typing import Any

from figsync_ingest import senders

EMAIL_SECRET = "whsec_" + base64.b64encode(b"figsync-ingest-test-secret-32byt").decode()
ACME_SECRET = "whsec_" + base64.b64encode(b"acme-team-email-webhook-secret!!").decode()
PASSCODE = "figma-passcode-for-tests"
MAILGUN_KEY = "key-mailgun-signing-for-tests"
SENDGRID_PASSWORD = "sendgrid-password-for-tests"
POSTMARK_PASSWORD = "postmark-password-for-tests"
ACME_ADDRESS = "figsync+acme@inbound.example.com"


def standard_headers(body: bytes, secret: str = EMAIL_SECRET, **options: Any) -> dict[str, str]:
    return senders.standard_headers(body, secret, **options)


def mailgun_fields(key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict[str, str]:
    return senders.mailgun_fields(key, timestamp)


basic = senders.basic


def legacy_signature(body: bytes, secret: str = EMAIL_SECRET) -> str:
    return senders.legacy_signature(body, secret)
