"""Forwarding-verification emails: when a user sets up forwarding to figsync's address, the
inbox provider sends a code there. figsync keeps the code so the dashboard can show it (the
job itself still ends JobIgnored `not_comment_email`, decided by the figma step)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.utils import parseaddr

from figsync_ingest.emails import InboundEmail


@dataclass(frozen=True)
class ForwardingCode:
    provider: str
    code: str
    requested_by: str
    confirmation_url: str | None


_TAGS = re.compile(r"<[^>]{0,2000}>")
_URL = re.compile(r"https://[^\s\"'<>]{1,2000}")

# Gmail: "(#123456789) Gmail Forwarding Confirmation - Receive Mail from anna@example.com"
_GMAIL_SUBJECT = re.compile(
    r"\(#(?P<code>\d{6,12})\)\s*Gmail Forwarding Confirmation\s*-\s*Receive (?:Mail|Messages) "
    r"from\s+(?P<from>\S+@\S+)",
    re.IGNORECASE,
)
_GMAIL_BODY_CODE = re.compile(r"Confirmation code:\s*(\d{6,12})", re.IGNORECASE)
_GMAIL_SENDERS = {"forwarding-noreply@google.com"}
_GMAIL_LINK_HOST = "https://mail-settings.google.com/"

# Outlook.com verifies a forwarding address with a Microsoft account security code.
_OUTLOOK_SENDERS = {
    "account-security-noreply@accountprotection.microsoft.com",
    "account-security-noreply@account.microsoft.com",
}
_OUTLOOK_CODE = re.compile(r"Security code:\s*(\d{4,10})", re.IGNORECASE)


def _plain(email: InboundEmail) -> str:
    if email.text:
        return email.text
    return html.unescape(_TAGS.sub(" ", email.html))


def detect(email: InboundEmail) -> ForwardingCode | None:
    """The verification code in a Gmail or Outlook forwarding confirmation, else None."""
    sender = parseaddr(email.sender)[1].lower()
    if sender in _GMAIL_SENDERS:
        subject = _GMAIL_SUBJECT.search(email.subject)
        body = _plain(email)
        code = subject.group("code") if subject else None
        if code is None:
            found = _GMAIL_BODY_CODE.search(body)
            code = found.group(1) if found else None
        if code is None:
            return None
        links = [u for u in _URL.findall(body + " " + email.html) if u.startswith(_GMAIL_LINK_HOST)]
        return ForwardingCode(
            provider="gmail",
            code=code,
            requested_by=subject.group("from").strip(".,;") if subject else "",
            confirmation_url=html.unescape(links[0]) if links else None,
        )
    if sender in _OUTLOOK_SENDERS:
        found = _OUTLOOK_CODE.search(_plain(email))
        if found:
            return ForwardingCode("outlook", found.group(1), "", None)
    return None
