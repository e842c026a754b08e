"""Figma-style click-tracking links (click.figma.com/ls/click?upn=u001....) and their decoding."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote, unquote, urlencode

CLICK_BASE_URL = "https://click.figma.com"
UPN_PREFIX = "u001."


def encode_upn(target: str) -> str:
    """Encode a target URL as an opaque-looking `upn` value (SendGrid style: %XX written -XX)."""
    b64 = base64.b64encode(target.encode()).decode()
    body = quote(b64, safe="").replace("%", "-")
    tail = base64.b64encode(hashlib.sha256(target.encode()).digest()).decode()
    return f"{UPN_PREFIX}{body}_{quote(tail, safe='').replace('%', '-')}"


def decode_upn(upn: str) -> str | None:
    """The target URL of a `upn` made by encode_upn, or None if it is not one."""
    if not upn.startswith(UPN_PREFIX):
        return None
    body = upn[len(UPN_PREFIX) :].split("_", 1)[0]
    try:
        target = base64.b64decode(unquote(body.replace("-", "%")), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return target if target.startswith(("https://", "http://")) else None


def click_link(target: str, *, universal: bool = False, base_url: str = CLICK_BASE_URL) -> str:
    """A tracking link that redirects (302) to `target`; universal links use /uni/ls/click."""
    path = "/uni/ls/click" if universal else "/ls/click"
    return f"{base_url.rstrip('/')}{path}?{urlencode({'upn': encode_upn(target)})}"
