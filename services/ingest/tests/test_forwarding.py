"""Forwarding-verification emails are accepted (the figma step ignores them) and their code kept."""

from __future__ import annotations

import pytest
from ingest_testing import standard_headers

from figsync_ingest.emails import InboundEmail
from figsync_ingest.forwarding import detect

GMAIL_TEXT = """anna@example.com has requested to automatically forward mail to your email
address figsync@inbound.example.com.
Confirmation code: 612345678

To allow anna@example.com to automatically forward mail to your address, please click the
link below to confirm the request:

https://mail-settings.google.com/mail/vf-%5BANGjdJ8abc%5D-Xyz

If you click the link and it appears to be broken, please copy and paste it
"""


def gmail_raw(message_id: str = "<gmail-fwd-1@google.com>") -> bytes:
    return (
        "From: Gmail Team <forwarding-noreply@google.com>\r\n"
        "To: figsync@inbound.example.com\r\n"
        "Subject: (#612345678) Gmail Forwarding Confirmation - Receive Mail from anna@example.com\r\n"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + GMAIL_TEXT
    ).encode()


def email(sender: str, subject: str, text: str | None, html: str = "") -> InboundEmail:
    return InboundEmail("json", "m@x", sender, ("t@x.com",), subject, html, text, None)


@pytest.mark.unit
def test_a_gmail_confirmation_yields_its_code_requester_and_link():
    found = detect(
        email(
            "Gmail Team <forwarding-noreply@google.com>",
            "(#612345678) Gmail Forwarding Confirmation - Receive Mail from anna@example.com",
            GMAIL_TEXT,
        )
    )
    assert found is not None
    assert (found.provider, found.code, found.requested_by) == (
        "gmail",
        "612345678",
        "anna@example.com",
    )
    assert found.confirmation_url == "https://mail-settings.google.com/mail/vf-%5BANGjdJ8abc%5D-Xyz"


@pytest.mark.unit
def test_a_gmail_confirmation_in_html_only_still_yields_the_code():
    found = detect(
        email(
            "forwarding-noreply@google.com",
            "Gmail Forwarding Confirmation",
            None,
            "<p>Confirmation code: <b>987654321</b></p>",
        )
    )
    assert found is not None and found.code == "987654321"


@pytest.mark.unit
def test_an_outlook_security_code_is_recognised():
    found = detect(
        email(
            "Microsoft account team <account-security-noreply@accountprotection.microsoft.com>",
            "Microsoft account security code",
            "Please use the following security code for the Microsoft account fi***@inbound.example.com.\n\nSecurity code: 4821937\n",
        )
    )
    assert found is not None and (found.provider, found.code) == ("outlook", "4821937")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("sender", "subject", "text"),
    [
        (
            "Maarten (via Figma) <comments-K@email.figma.com>",
            "Confirmation code: 123456789",
            "Confirmation code: 123456789",
        ),
        ("forwarding-noreply@google.com", "Something else", "no code here"),
        (
            "attacker@evil.example",
            "(#612345678) Gmail Forwarding Confirmation - Receive Mail from a@b.c",
            "",
        ),
    ],
)
def test_other_emails_yield_no_code(sender, subject, text):
    assert detect(email(sender, subject, text)) is None


@pytest.mark.integration
async def test_a_forwarding_confirmation_is_accepted_and_its_code_kept_for_the_dashboard(harness):
    raw = gmail_raw()
    headers = standard_headers(raw, content_type="message/rfc822")
    response = await harness.client.post("/v1/inbound/email/mime", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    row = await harness.pool.fetchrow(
        """SELECT team, job_id, provider, code, requested_by, confirmation_url
           FROM forwarding_verifications ORDER BY received_at DESC LIMIT 1"""
    )
    assert dict(row) == {
        "team": "default",
        "job_id": response.json()["job_id"],
        "provider": "gmail",
        "code": "612345678",
        "requested_by": "anna@example.com",
        "confirmation_url": "https://mail-settings.google.com/mail/vf-%5BANGjdJ8abc%5D-Xyz",
    }
    # the whole email is in the job, for the figma step to end it `not_comment_email`
    [recorded] = await harness.store.read_stream(response.json()["job_id"])
    assert "Confirmation code: 612345678" in recorded.data["text"]
