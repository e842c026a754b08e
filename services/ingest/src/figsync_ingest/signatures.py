"""Request authentication: Standard Webhooks, the seed's hex HMAC, Mailgun, Basic auth.

Standard Webhooks is written here rather than taken from the `standardwebhooks` package:
that package decodes the body as UTF-8 before verifying (a raw RFC 822 message in another
charset would crash it), lets malformed signature headers escape as ValueError/binascii.Error,
reports a stale timestamp and a bad signature as the same exception, and accepts fractional
timestamps. The scheme itself is a few lines (https://www.standardwebhooks.com/).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

from figsync_ingest.errors import Rejected

SECRET_PREFIX = "whsec_"
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def _unauthorized(code: str, message: str) -> Rejected:
    return Rejected(401, code, message)


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (a secret without the prefix is used as is)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign_standard(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value a Standard Webhooks sender computes."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(whsec_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def check_timestamp(timestamp: int, now: float, tolerance: int) -> None:
    if abs(now - timestamp) > tolerance:
        raise _unauthorized(
            "ingest.stale_timestamp",
            f"the timestamp {timestamp} is more than {tolerance} s from the server's clock; "
            "sign each delivery when it is sent (check the sender's clock)",
        )


def verify_standard(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: int
) -> tuple[str, int]:
    """Check `webhook-id`, `webhook-timestamp`, `webhook-signature`; returns (id, timestamp)."""
    webhook_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    missing = [
        name
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", raw_timestamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise _unauthorized(
            "ingest.missing_signature",
            f"missing {', '.join(missing)}: sign the request per Standard Webhooks",
        )
    if not _TIMESTAMP.match(raw_timestamp):
        raise _unauthorized(
            "ingest.bad_timestamp", "webhook-timestamp must be integer seconds since the epoch"
        )
    if len(webhook_id) > 256:
        raise _unauthorized("ingest.bad_webhook_id", "webhook-id is longer than 256 characters")
    timestamp = int(raw_timestamp)
    expected = sign_standard(secret, webhook_id, timestamp, body).encode()
    offered = [s.encode() for s in signatures.split(" ") if s.startswith("v1,")]
    # Compare with every offered signature (a sender rotating secrets sends several).
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise _unauthorized(
            "ingest.bad_signature",
            "webhook-signature does not match the body: check the team's email webhook secret",
        )
    check_timestamp(timestamp, now, tolerance)
    return webhook_id, timestamp


def verify_legacy_hex(secret: str, signature: str, body: bytes) -> None:
    """The seed design's `x-webhook-signature`: hex HMAC-SHA256 of the raw body."""
    offered = signature.strip().removeprefix("sha256=").lower().encode()
    keys = {secret.encode(), whsec_key(secret)}
    for key in keys:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(expected, offered):
            return
    raise _unauthorized(
        "ingest.bad_signature",
        "x-webhook-signature does not match the body: check the team's email webhook secret",
    )


def sign_mailgun(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's `signature`: hex HMAC-SHA256 of timestamp + token with the signing key."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify_mailgun(
    signing_key: str, timestamp: str, token: str, signature: str, now: float, tolerance: int
) -> None:
    if not (timestamp and token and signature):
        raise _unauthorized(
            "ingest.missing_signature",
            "Mailgun posts timestamp, token and signature; one is absent",
        )
    if not _TIMESTAMP.match(timestamp):
        raise _unauthorized("ingest.bad_timestamp", "timestamp must be integer seconds")
    expected = sign_mailgun(signing_key, timestamp, token).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode()):
        raise _unauthorized(
            "ingest.bad_signature",
            "the Mailgun signature does not match: check the team's Mailgun HTTP webhook signing key",
        )
    check_timestamp(int(timestamp), now, tolerance)


def verify_basic_auth(password: str, authorization: str, provider: str) -> None:
    """Basic auth as inbound providers send it from `https://user:password@host/...` URLs.
    Only the password is the secret; any user name is accepted."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise Rejected(
            401,
            "ingest.missing_credentials",
            f"put the team's {provider} password in the webhook URL (https://figsync:PASSWORD@…)",
            headers={"WWW-Authenticate": 'Basic realm="figsync"'},
        )
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    _, _, offered = decoded.partition(b":")
    if not hmac.compare_digest(password.encode(), offered):
        raise Rejected(
            401,
            "ingest.bad_credentials",
            f"wrong password for {provider}: check the team's {provider} password",
            headers={"WWW-Authenticate": 'Basic realm="figsync"'},
        )
