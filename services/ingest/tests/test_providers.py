"""Inbound-mail providers in their native formats: Mailgun, SendGrid, Postmark."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from ingest_testing import MAILGUN_KEY, POSTMARK_PASSWORD, SENDGRID_PASSWORD, basic, mailgun_fields

from figsync_contracts import EmailReceived, email_job_id

pytestmark = pytest.mark.integration

FROM = "Maarten (via Figma) <comments-AbC123@email.figma.com>"
HTML = "<p><span style='color: #007be5'>@Anna Smith</span> please review</p>"


async def stored(harness, response) -> EmailReceived:
    [recorded] = await harness.store.read_stream(response.json()["job_id"])
    return EmailReceived.model_validate(recorded.data)


def message_id() -> str:
    return f"<{uuid.uuid4().hex}@email.figma.com>"


# -- Mailgun ----------------------------------------------------------------------------


def mailgun_form(mid: str | None = None, **changes) -> dict[str, str]:
    mid = mid or message_id()
    form = {
        **mailgun_fields(),
        "recipient": "figsync@inbound.example.com",
        "sender": "bounces@email.figma.com",
        "from": FROM,
        "subject": "Maarten mentioned you",
        "body-plain": "@Anna Smith please review",
        "body-html": HTML,
        "message-headers": json.dumps(
            [
                ["Message-Id", mid],
                ["Date", "Mon, 05 Jan 2026 09:31:00 +0000"],
                ["To", "you@example.com"],
            ]
        ),
    }
    form.update(changes)
    return form


async def test_a_mailgun_route_post_is_accepted(harness):
    form = mailgun_form("<mg-1@email.figma.com>")
    response = await harness.client.post("/v1/inbound/mailgun", data=form)
    assert response.status_code == 202, response.text
    assert response.json()["job_id"] == email_job_id("default", "mg-1@email.figma.com")
    event = await stored(harness, response)
    assert event.transport == "mailgun"
    assert event.sender == FROM
    assert event.recipients == ["figsync@inbound.example.com", "you@example.com"]
    assert event.html == HTML and event.text == "@Anna Smith please review"
    assert event.sent_at is not None


async def test_a_mailgun_multipart_post_with_an_attachment_is_accepted(harness):
    form = mailgun_form()
    files = {"attachment-1": ("a.txt", b"attached", "text/plain")}
    response = await harness.client.post("/v1/inbound/mailgun", data=form, files=files)
    assert response.status_code == 202, response.text
    assert (await stored(harness, response)).html == HTML


async def test_a_mailgun_duplicate_bad_signature_stale_and_replayed_token(harness):
    mid = message_id()
    first = await harness.client.post("/v1/inbound/mailgun", data=mailgun_form(mid))
    assert first.status_code == 202
    before = await harness.store.last_position()
    again = await harness.client.post("/v1/inbound/mailgun", data=mailgun_form(mid))
    assert again.json()["status"] == "duplicate"
    forged = mailgun_form(signature="0" * 64)
    assert (await harness.client.post("/v1/inbound/mailgun", data=forged)).json()["error"][
        "code"
    ] == "ingest.bad_signature"
    ts = str(int(time.time()) - 3600)
    token = "t" * 50
    from figsync_ingest.signatures import sign_mailgun

    stale = mailgun_form(timestamp=ts, token=token, signature=sign_mailgun(MAILGUN_KEY, ts, token))
    response = await harness.client.post("/v1/inbound/mailgun", data=stale)
    assert response.json()["error"]["code"] == "ingest.stale_timestamp"
    replay = mailgun_form(message_id())  # another email, but the first delivery's token
    replay.update(
        {
            k: v
            for k, v in _fields_of(first.request).items()
            if k in ("timestamp", "token", "signature")
        }
    )
    replayed = await harness.client.post("/v1/inbound/mailgun", data=replay)
    assert replayed.status_code == 409
    assert replayed.json()["error"]["code"] == "ingest.replayed"
    assert await harness.store.last_position() == before


def _fields_of(request) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(request.content.decode()))


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"message-headers": "not json"}, 400, "ingest.malformed_body"),
        ({"message-headers": "{}"}, 400, "ingest.malformed_body"),
        ({"message-headers": "[]"}, 422, "ingest.missing_message_id"),
        ({"from": "", "sender": ""}, 422, "ingest.missing_sender"),
        ({"signature": ""}, 401, "ingest.missing_signature"),
    ],
)
async def test_a_malformed_mailgun_post_is_refused(harness, changes, status, code):
    before = await harness.store.last_position()
    response = await harness.client.post("/v1/inbound/mailgun", data=mailgun_form(**changes))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await harness.store.last_position() == before


async def test_mailgun_refuses_json_and_oversized_bodies(make_harness):
    harness = await make_harness(max_body_bytes=2048)
    as_json = await harness.client.post("/v1/inbound/mailgun", json=mailgun_form())
    assert as_json.status_code == 415
    big = await harness.client.post(
        "/v1/inbound/mailgun", data=mailgun_form(**{"body-html": "x" * 4096})
    )
    assert big.status_code == 413


# -- SendGrid ---------------------------------------------------------------------------


def multipart(fields: dict[str, bytes], boundary: str = "xYzZY") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def sendgrid_fields(mid: str | None = None) -> dict[str, bytes]:
    headers = (
        f"Message-ID: {mid or message_id()}\r\nDate: Mon, 05 Jan 2026 09:31:00 +0000\r\n"
        f"From: {FROM}\r\nTo: you@example.com\r\nSubject: Maarten mentioned you\r\n"
    )
    return {
        "headers": headers.encode(),
        "from": FROM.encode(),
        "to": b"you@example.com",
        "subject": b"Maarten mentioned you",
        "html": "<p>Caf\u00e9 review</p>".encode("iso-8859-1"),
        "text": b"Cafe review",
        "envelope": json.dumps(
            {"to": ["figsync@parse.example.com"], "from": "b@figma.com"}
        ).encode(),
        "charsets": json.dumps(
            {"html": "iso-8859-1", "text": "utf-8", "headers": "UTF-8"}
        ).encode(),
        "spam_score": b"0.1",
    }


async def post_sendgrid(
    harness, fields, password: str = SENDGRID_PASSWORD, path="/v1/inbound/sendgrid"
):
    body, content_type = multipart(fields)
    return await harness.client.post(
        path, content=body, headers={"content-type": content_type, **basic(password)}
    )


async def test_a_sendgrid_inbound_parse_post_is_accepted_with_its_charsets(harness):
    response = await post_sendgrid(harness, sendgrid_fields("<sg-1@email.figma.com>"))
    assert response.status_code == 202, response.text
    assert response.json()["job_id"] == email_job_id("default", "sg-1@email.figma.com")
    event = await stored(harness, response)
    assert event.transport == "sendgrid"
    assert event.html == "<p>Café review</p>"
    assert event.recipients == ["figsync@parse.example.com", "you@example.com"]
    assert event.sender == FROM and event.subject == "Maarten mentioned you"


async def test_a_sendgrid_raw_mime_post_is_accepted(harness):
    raw = (
        f"From: {FROM}\r\nTo: you@example.com\r\nMessage-ID: <sg-raw@x>\r\nSubject: hi\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n<p>raw</p>\r\n"
    ).encode()
    response = await post_sendgrid(harness, {"email": raw, "to": b"you@example.com"})
    assert response.status_code == 202, response.text
    assert "<p>raw</p>" in (await stored(harness, response)).html


async def test_sendgrid_credentials_are_required_and_checked(harness):
    before = await harness.store.last_position()
    wrong = await post_sendgrid(harness, sendgrid_fields(), password="nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "ingest.bad_credentials"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    body, content_type = multipart(sendgrid_fields())
    missing = await harness.client.post(
        "/v1/inbound/sendgrid", content=body, headers={"content-type": content_type}
    )
    assert missing.json()["error"]["code"] == "ingest.missing_credentials"
    garbage = await harness.client.post(
        "/v1/inbound/sendgrid",
        content=body,
        headers={"content-type": content_type, "authorization": "Basic !!!"},
    )
    assert garbage.status_code == 401
    assert await harness.store.last_position() == before


async def test_a_sendgrid_duplicate_and_malformed_bodies(harness):
    fields = sendgrid_fields()
    assert (await post_sendgrid(harness, fields)).status_code == 202
    assert (await post_sendgrid(harness, fields)).json()["status"] == "duplicate"
    before = await harness.store.last_position()
    no_boundary = await harness.client.post(
        "/v1/inbound/sendgrid",
        content=b"garbage",
        headers={"content-type": "multipart/form-data", **basic(SENDGRID_PASSWORD)},
    )
    assert no_boundary.status_code == 400
    assert no_boundary.json()["error"]["code"] == "ingest.malformed_body"
    bad_charsets = await post_sendgrid(harness, {**sendgrid_fields(), "charsets": b"[1]"})
    assert bad_charsets.status_code == 400
    as_json = await harness.client.post(
        "/v1/inbound/sendgrid", json={}, headers=basic(SENDGRID_PASSWORD)
    )
    assert as_json.status_code == 415
    assert await harness.store.last_position() == before


# -- Postmark ---------------------------------------------------------------------------


def postmark_payload(header_mid: str | None = None, **changes) -> dict:
    payload = {
        "From": "comments-AbC123@email.figma.com",
        "FromName": "Maarten (via Figma)",
        "FromFull": {"Email": "comments-AbC123@email.figma.com", "Name": "Maarten (via Figma)"},
        "To": "figsync@inbound.postmarkapp.com",
        "ToFull": [{"Email": "figsync@inbound.postmarkapp.com", "Name": "", "MailboxHash": ""}],
        "OriginalRecipient": "figsync@inbound.postmarkapp.com",
        "Subject": "Maarten mentioned you",
        "MessageID": str(uuid.uuid4()),
        "Date": "Mon, 5 Jan 2026 09:31:00 +0000",
        "TextBody": "@Anna Smith please review",
        "HtmlBody": HTML,
        "StrippedTextReply": "",
        "Headers": [
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "Message-ID", "Value": header_mid or message_id()},
        ],
        "Attachments": [],
    }
    payload.update(changes)
    return payload


async def test_a_postmark_inbound_post_is_accepted_by_its_message_id_header(harness):
    payload = postmark_payload("<pm-1@email.figma.com>")
    response = await harness.client.post(
        "/v1/inbound/postmark", json=payload, headers=basic(POSTMARK_PASSWORD)
    )
    assert response.status_code == 202, response.text
    assert response.json()["job_id"] == email_job_id("default", "pm-1@email.figma.com")
    event = await stored(harness, response)
    assert event.transport == "postmark"
    assert event.html == HTML
    assert event.recipients == ["figsync@inbound.postmarkapp.com"]


async def test_postmarks_own_message_id_is_the_fallback(harness):
    payload = postmark_payload(Headers=[])
    response = await harness.client.post(
        "/v1/inbound/postmark", json=payload, headers=basic(POSTMARK_PASSWORD)
    )
    assert response.json()["job_id"] == email_job_id("default", payload["MessageID"])


async def test_postmark_duplicate_credentials_and_malformed_bodies(harness):
    payload = postmark_payload()
    auth = basic(POSTMARK_PASSWORD)
    assert (
        await harness.client.post("/v1/inbound/postmark", json=payload, headers=auth)
    ).status_code == 202
    again = await harness.client.post("/v1/inbound/postmark", json=payload, headers=auth)
    assert again.json()["status"] == "duplicate"
    before = await harness.store.last_position()
    wrong = await harness.client.post("/v1/inbound/postmark", json=payload, headers=basic("x"))
    assert wrong.status_code == 401
    for body, status in ((b"{", 400), (b'"text"', 400), (b'{"Headers": "x"}', 422), (b"{}", 422)):
        response = await harness.client.post(
            "/v1/inbound/postmark",
            content=body,
            headers={**auth, "content-type": "application/json"},
        )
        assert response.status_code == status, (body, response.text)
    form = await harness.client.post("/v1/inbound/postmark", data={"a": "b"}, headers=auth)
    assert form.status_code == 415
    assert await harness.store.last_position() == before


async def test_a_team_without_provider_secrets_has_those_endpoints_off(harness):
    for path in ("mailgun", "sendgrid", "postmark"):
        response = await harness.client.post(
            f"/v1/teams/acme/inbound/{path}",
            content=b"{}",
            headers={
                "content-type": "multipart/form-data; boundary=x"
                if path != "postmark"
                else "application/json"
            },
        )
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "ingest.not_configured"
