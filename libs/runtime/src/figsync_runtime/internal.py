"""Routes one figsync service offers another (the dashboard asks the notion service to check a
database, the summarizer to preview a summary). The caller shows an HMAC of the route's purpose
under the shared FIGSYNC_SECRET_KEY in `X-Figsync-Internal`; nothing else may call them."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Figsync-Internal"
# The purposes: the notion service's check of a database and mapping, the summarizer's preview.
NOTION_CHECK = "notion-check"
SUMMARY_PREVIEW = "summarizer-preview"


def internal_token(secret_key: str, purpose: str) -> str:
    """What a figsync service shows another on the internal route for `purpose`."""
    return hmac.new(secret_key.encode(), f"internal:{purpose}".encode(), hashlib.sha256).hexdigest()


def is_internal(offered: str | None, secret_key: str, purpose: str) -> bool:
    """Whether a request's header carries the token for `purpose` (compared in constant time)."""
    expected = internal_token(secret_key, purpose)
    return hmac.compare_digest((offered or "").encode(), expected.encode())
