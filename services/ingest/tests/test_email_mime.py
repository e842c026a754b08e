"""POST /v1/inbound/email/mime: raw RFC 822, same signature as the JSON endpoint."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from ingest_testing import standard_headers

from figsync_contracts import EmailReceived, email_job_id
from figsync_sandbox.emails import comment_email_message
from figsync_sandbox.figma import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, FigmaState
from figsync_sandbox.fixtures import figma_mention_email

pytestmark = pytest.mark.integration

FIXTURE_HTML = figma_mention_email().read_text("utf-8")
PATH = "/v1/inbound/email/mime"


def mime_headers(raw: bytes, **kw) -> dict[str, str]:
    return standard_headers(raw, content_type="message/rfc822", **kw)


async def post(harness, raw: bytes, **kw):
    return await harness.client.post(PATH, content=raw, headers=mime_headers(raw, **kw))


async def stored(harness, response) -> EmailReceived:
    [recorded] = await harness.store.read_stream(response.json()["job_id"])
    return EmailReceived.model_validate(recorded.data)


async def test_a_sandbox_notification_is_parsed_from_its_headers_and_parts(harness):
    figma = FigmaState()
    message = comment_email_message(figma, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    raw = message.as_bytes(policy=SMTP)
    response = await post(harness, raw)
    assert response.status_code == 202, response.text
    message_id = message["Message-ID"].strip("<>")
    assert response.json()["job_id"] == email_job_id("default", message_id)
    event = await stored(harness, response)
    assert event.transport == "mime"
    assert event.message_id == message_id
    assert f"comments-{DEFAULT_FILE_KEY}@email.figma.com" in event.sender
    assert event.recipients == ["you@example.com"]
    assert event.subject == str(message["Subject"])
    assert "color: #007be5" in event.html  # the mention markup survives
    assert event.text and "Anna Smith" in event.text
    assert event.sent_at is not None


def _real_fixture_message(cte: str, charset: str = "utf-8") -> bytes:
    html = FIXTURE_HTML
    message = EmailMessage()
    message["From"] = "Maarten (via Figma) <comments-AbC123@email.figma.com>"
    message["To"] = "Design <you@example.com>, other@example.com"
    message["Cc"] = "cc@example.com"
    message["Subject"] = "=?utf-8?q?Maarten_mentioned_you_in_=E2=9C=93_Onboarding?="
    message["Message-ID"] = f"<{uuid.uuid4().hex}@email.figma.com>"
    message["Date"] = "Mon, 05 Jan 2026 09:31:00 +0000"
    message.set_content("Maarten mentioned you — café", charset=charset, cte=cte)
    message.add_alternative(html, subtype="html", charset="utf-8", cte=cte)
    return message.as_bytes(policy=SMTP)


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
async def test_the_real_figma_email_survives_transfer_encodings(harness, cte):
    raw = _real_fixture_message(cte)
    assert f"Content-Transfer-Encoding: {cte}".encode() in raw
    response = await post(harness, raw)
    assert response.status_code == 202, response.text
    event = await stored(harness, response)
    assert event.html.replace("\r\n", "\n").strip() == FIXTURE_HTML.replace("\r\n", "\n").strip()
    assert event.text.strip() == "Maarten mentioned you — café"
    assert event.subject == "Maarten mentioned you in ✓ Onboarding"
    assert event.recipients == ["you@example.com", "other@example.com", "cc@example.com"]


async def test_a_latin1_body_in_8bit_is_decoded_by_its_charset(harness):
    raw = (
        b"From: Figma <comments-K@email.figma.com>\r\nTo: you@example.com\r\n"
        b"Subject: caf\xe9\r\nMessage-ID: <latin1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"<p>Caf\xe9 cr\xe8me</p>\r\n"
    )
    response = await post(harness, raw)
    assert response.status_code == 202, response.text
    event = await stored(harness, response)
    assert "Café crème" in event.html
    assert event.text is None


async def test_an_unknown_charset_does_not_fail_the_email(harness):
    raw = (
        b"From: f@example.com\r\nTo: t@example.com\r\nMessage-ID: <x-unknown@example.com>\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello\r\n"
    )
    response = await post(harness, raw)
    assert response.status_code == 202
    assert (await stored(harness, response)).text.strip() == "hello"


async def test_the_same_message_again_is_a_duplicate(harness):
    raw = _real_fixture_message("base64")
    first, second = await post(harness, raw), await post(harness, raw)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["status"] == "duplicate"


async def test_json_and_mime_deliveries_of_one_email_share_a_job(harness):
    import json

    raw = _real_fixture_message("quoted-printable")
    message_id = raw.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    via_json = json.dumps(
        {"from": "a@example.com", "to": "b@example.com", "subject": "", "html": "",
         "messageId": message_id}
    ).encode()  # fmt: skip
    first = await harness.post_email(via_json)
    second = await post(harness, raw)
    assert first.status_code == 202
    assert second.json() == {"status": "duplicate", "job_id": first.json()["job_id"]}


async def test_a_bad_signature_stale_timestamp_and_replay_are_refused(harness):
    import time

    raw = _real_fixture_message("base64")
    before = await harness.store.last_position()
    headers = mime_headers(raw)
    tampered = await harness.client.post(PATH, content=raw + b"x", headers=headers)
    assert tampered.json()["error"]["code"] == "ingest.bad_signature"
    stale = await post(harness, raw, timestamp=int(time.time()) - 600)
    assert stale.json()["error"]["code"] == "ingest.stale_timestamp"
    assert await harness.store.last_position() == before
    assert (await harness.client.post(PATH, content=raw, headers=headers)).status_code == 202
    replay = await harness.client.post(PATH, content=raw, headers=headers)
    assert replay.status_code == 409


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "ingest.malformed_body"),
        (b"\x00\xff\xfe garbage", 400, "ingest.malformed_body"),
        (
            b"From: a@example.com\r\nTo: b@example.com\r\n\r\nno id\r\n",
            422,
            "ingest.missing_message_id",
        ),
        (b"Message-ID: <m@x>\r\nTo: b@example.com\r\n\r\nbody", 422, "ingest.missing_sender"),
        (b"Message-ID: <m@x>\r\nFrom: a@example.com\r\n\r\nbody", 422, "ingest.missing_recipient"),
    ],
)
async def test_an_unusable_message_is_refused(harness, raw, status, code):
    before = await harness.store.last_position()
    response = await post(harness, raw)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await harness.store.last_position() == before


async def test_a_wrong_content_type_and_an_oversized_message_are_refused(make_harness):
    harness = await make_harness(max_body_bytes=4096)
    raw = _real_fixture_message("base64")
    json_typed = await harness.client.post(
        PATH, content=raw, headers=standard_headers(raw, content_type="application/json")
    )
    assert json_typed.status_code in (413, 415)
    small = b"From: a@example.com\r\nTo: b@example.com\r\nMessage-ID: <s@x>\r\n\r\nhi"
    wrong = await harness.client.post(
        PATH, content=small, headers=standard_headers(small, content_type="text/plain")
    )
    assert wrong.status_code == 415
    big = await post(harness, raw)
    assert big.status_code == 413
