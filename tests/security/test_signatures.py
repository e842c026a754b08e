"""Every inbound endpoint authenticates before it appends: a missing, wrong, stale or replayed
signature (or password, or passcode) is a 4xx with a stable code, and nothing is stored."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from security_testing import (
    ACME_PASSCODE,
    ACME_SECRET,
    EMAIL_SECRET,
    MAILGUN_KEY,
    PASSCODE,
    POSTMARK_PASSWORD,
    SENDGRID_PASSWORD,
    basic,
    legacy_hex,
    mailgun_fields,
    standard_headers,
)

pytestmark = pytest.mark.integration

HOUR = 3600


def seed_email() -> bytes:
    return json.dumps(
        {
            "from": "Maarten (via Figma) <comments-AbC123xyz@email.figma.com>",
            "to": "you@example.com",
            "subject": "Maarten mentioned you in Onboarding",
            "html": "<p>Maarten mentioned you</p>",
            "timestamp": "2026-01-05T09:31:00Z",
            "messageId": f"<{uuid.uuid4().hex}@email.figma.com>",
        }
    ).encode()


def mime_email() -> bytes:
    return (
        "From: Maarten (via Figma) <comments-AbC123xyz@email.figma.com>\r\n"
        "To: you@example.com\r\n"
        "Subject: Maarten mentioned you\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@email.figma.com>\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Maarten mentioned you</p>\r\n"
    ).encode()


def postmark_email() -> bytes:
    return json.dumps(
        {
            "From": "comments-AbC123xyz@email.figma.com",
            "To": "you@example.com",
            "Subject": "Maarten mentioned you",
            "MessageID": str(uuid.uuid4()),
            "HtmlBody": "<p>Maarten mentioned you</p>",
            "Headers": [{"Name": "Message-ID", "Value": f"<{uuid.uuid4().hex}@email.figma.com>"}],
        }
    ).encode()


def figma_comment(passcode: str | None) -> bytes:
    payload = {
        "event_type": "FILE_COMMENT",
        "file_key": "SecFileKey" + uuid.uuid4().hex[:12],
        "comment_id": str(uuid.uuid4().int % 10**12),
        "comment": [{"text": "@Anna Smith please look"}],
        "triggered_by": {"id": "1", "handle": "Maarten"},
        "webhook_id": "9",
        "timestamp": "2026-01-05T09:31:00Z",
    }
    if passcode is not None:
        payload["passcode"] = passcode
    return json.dumps(payload).encode()


async def refused(ingest, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST, and prove nothing was appended; returns (status, error code)."""
    before = await ingest.position()
    response = await ingest.client.post(path, content=body, headers=headers)
    assert await ingest.position() == before, f"{path} appended despite {response.status_code}"
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["message"], error
    return response.status_code, error["code"]


async def accepted(ingest, path: str, body: bytes, headers: dict[str, str]) -> None:
    response = await ingest.client.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text


# -- Standard Webhooks (JSON and raw MIME; default and per-team paths) -----------------

EMAIL_ROUTES = [
    ("/v1/inbound/email", seed_email, "application/json", EMAIL_SECRET),
    ("/v1/inbound/email/mime", mime_email, "message/rfc822", EMAIL_SECRET),
    ("/v1/teams/acme/inbound/email", seed_email, "application/json", ACME_SECRET),
    ("/v1/teams/acme/inbound/email/mime", mime_email, "message/rfc822", ACME_SECRET),
]


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
async def test_a_correctly_signed_email_is_accepted(ingest, path, make, ctype, secret):
    body = make()
    await accepted(ingest, path, body, standard_headers(body, secret, content_type=ctype))


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_signature_header_is_refused(ingest, path, make, ctype, secret, header):
    body = make()
    headers = standard_headers(body, secret, content_type=ctype)
    del headers[header]
    assert await refused(ingest, path, body, headers) == (401, "ingest.missing_signature")


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
async def test_no_signature_at_all_is_refused(ingest, path, make, ctype, secret):
    body = make()
    assert await refused(ingest, path, body, {"content-type": ctype}) == (
        401,
        "ingest.missing_signature",
    )


def _tampered_body(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"Maarten", b"Mallory", 1), headers


def _other_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    return body, {**headers, **{
        k: v for k, v in standard_headers(body, other, webhook_id=headers["webhook-id"],
                                          timestamp=int(headers["webhook-timestamp"])).items()
        if k == "webhook-signature"
    }}  # fmt: skip


def _other_id(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-id": headers["webhook-id"] + "x"}


def _other_timestamp(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}


def _garbage(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-signature": "v1,!!!not base64!!!"}


def _wrong_version(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {
        **headers,
        "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,"),
    }


def _truncated(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-signature": headers["webhook-signature"][:-4]}


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
@pytest.mark.parametrize(
    "tamper",
    [_tampered_body, _other_secret, _other_id, _other_timestamp, _garbage, _wrong_version,
     _truncated],
)  # fmt: skip
async def test_a_bad_signature_is_refused(ingest, path, make, ctype, secret, tamper):
    body, headers = tamper(
        *(lambda b: (b, standard_headers(b, secret, content_type=ctype)))(make())
    )
    assert await refused(ingest, path, body, headers) == (401, "ingest.bad_signature")


async def test_one_teams_secret_does_not_open_another_teams_endpoint(ingest):
    body = seed_email()
    wrong = standard_headers(body, EMAIL_SECRET)  # the default team's secret, at acme's path
    assert await refused(ingest, "/v1/teams/acme/inbound/email", body, wrong) == (
        401,
        "ingest.bad_signature",
    )
    wrong = standard_headers(body, ACME_SECRET)
    assert await refused(ingest, "/v1/inbound/email", body, wrong) == (401, "ingest.bad_signature")


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
@pytest.mark.parametrize("skew", [-HOUR, -301, 305, HOUR, -(10**9)])
async def test_a_stale_or_future_timestamp_is_refused(ingest, path, make, ctype, secret, skew):
    body = make()
    headers = standard_headers(
        body, secret, timestamp=max(0, int(time.time()) + skew), content_type=ctype
    )
    assert await refused(ingest, path, body, headers) == (401, "ingest.stale_timestamp")


@pytest.mark.parametrize("timestamp", ["1.5e9", "-1", "now", "1767600000.0", " 1767600000", ""])
async def test_a_timestamp_that_is_not_integer_seconds_is_refused(ingest, timestamp):
    body = seed_email()
    headers = {**standard_headers(body), "webhook-timestamp": timestamp}
    status, code = await refused(ingest, "/v1/inbound/email", body, headers)
    assert status == 401 and code in ("ingest.bad_timestamp", "ingest.missing_signature")


@pytest.mark.parametrize(("path", "make", "ctype", "secret"), EMAIL_ROUTES)
async def test_a_replayed_delivery_is_refused(ingest, path, make, ctype, secret):
    body = make()
    headers = standard_headers(body, secret, content_type=ctype)
    await accepted(ingest, path, body, headers)
    assert await refused(ingest, path, body, headers) == (409, "ingest.replayed")


async def test_a_replayed_delivery_id_with_another_body_is_refused(ingest):
    """An attacker who saw one delivery's id cannot re-use it, even re-signed for a new body
    (they would need the secret; the replay log refuses the id anyway)."""
    first = seed_email()
    headers = standard_headers(first)
    await accepted(ingest, "/v1/inbound/email", first, headers)
    second = seed_email()
    again = standard_headers(second, webhook_id=headers["webhook-id"])
    assert await refused(ingest, "/v1/inbound/email", second, again) == (409, "ingest.replayed")


async def test_the_legacy_hex_signature_is_off_by_default(ingest):
    body = seed_email()
    headers = {"content-type": "application/json", "x-webhook-signature": legacy_hex(body)}
    assert await refused(ingest, "/v1/inbound/email", body, headers) == (
        401,
        "ingest.legacy_signature_disabled",
    )


async def test_a_team_without_a_secret_refuses_email_instead_of_accepting_it_unsigned(ingest):
    body = seed_email()
    assert await refused(ingest, "/v1/teams/bare/inbound/email", body, standard_headers(body)) == (
        403,
        "ingest.not_configured",
    )


# -- Mailgun ----------------------------------------------------------------------------


def mailgun_body(fields: dict[str, str]) -> bytes:
    return urlencode(
        {
            "sender": "comments-AbC123xyz@email.figma.com",
            "recipient": "you@example.com",
            "subject": "Maarten mentioned you",
            "body-html": "<p>Maarten mentioned you</p>",
            "Message-Id": f"<{uuid.uuid4().hex}@email.figma.com>",
            "message-headers": json.dumps(
                [["Message-Id", f"<{uuid.uuid4().hex}@email.figma.com>"]]
            ),
            **fields,
        }
    ).encode()


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_a_signed_mailgun_post_is_accepted(ingest):
    await accepted(ingest, "/v1/inbound/mailgun", mailgun_body(mailgun_fields()), FORM)


@pytest.mark.parametrize("missing", ["timestamp", "token", "signature"])
async def test_mailgun_without_a_signature_field_is_refused(ingest, missing):
    fields = mailgun_fields()
    del fields[missing]
    assert await refused(ingest, "/v1/inbound/mailgun", mailgun_body(fields), FORM) == (
        401,
        "ingest.missing_signature",
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda f: {**f, "signature": "0" * 64},
        lambda f: {**f, "token": f["token"] + "x"},
        lambda f: {**f, "timestamp": str(int(f["timestamp"]) + 1)},
        lambda f: mailgun_fields("key-someone-else"),
    ],
)
async def test_mailgun_with_a_bad_signature_is_refused(ingest, change):
    body = mailgun_body(change(mailgun_fields()))
    assert await refused(ingest, "/v1/inbound/mailgun", body, FORM) == (401, "ingest.bad_signature")


async def test_mailgun_stale_and_replayed_are_refused(ingest):
    stale = mailgun_body(mailgun_fields(timestamp=int(time.time()) - HOUR))
    assert await refused(ingest, "/v1/inbound/mailgun", stale, FORM) == (
        401,
        "ingest.stale_timestamp",
    )
    body = mailgun_body(mailgun_fields(MAILGUN_KEY))
    await accepted(ingest, "/v1/inbound/mailgun", body, FORM)
    assert await refused(ingest, "/v1/inbound/mailgun", body, FORM) == (409, "ingest.replayed")


# -- Basic auth (SendGrid, Postmark) ------------------------------------------------------


def sendgrid_body() -> tuple[bytes, str]:
    fields = {
        "from": "comments-AbC123xyz@email.figma.com",
        "to": "you@example.com",
        "subject": "Maarten mentioned you",
        "html": "<p>Maarten mentioned you</p>",
        "headers": f"Message-ID: <{uuid.uuid4().hex}@email.figma.com>\n",
    }
    body = b"".join(
        f'--xYzZY\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    return body + b"--xYzZY--\r\n", "multipart/form-data; boundary=xYzZY"


BASIC_ROUTES = [
    ("/v1/inbound/sendgrid", SENDGRID_PASSWORD, sendgrid_body),
    ("/v1/inbound/postmark", POSTMARK_PASSWORD, lambda: (postmark_email(), "application/json")),
]


@pytest.mark.parametrize(("path", "password", "make"), BASIC_ROUTES)
async def test_basic_auth_with_the_password_is_accepted(ingest, path, password, make):
    body, ctype = make()
    await accepted(ingest, path, body, {"content-type": ctype, **basic(password)})


@pytest.mark.parametrize(("path", "password", "make"), BASIC_ROUTES)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "ingest.missing_credentials"),
        ("Bearer abc", "ingest.missing_credentials"),
        ("Basic", "ingest.missing_credentials"),
        ("Basic !!!", "ingest.bad_credentials"),
        ("wrong", "ingest.bad_credentials"),
        ("", "ingest.bad_credentials"),
    ],
)
async def test_basic_auth_missing_or_wrong_is_refused(
    ingest, path, password, make, authorization, code
):
    body, ctype = make()
    headers = {"content-type": ctype}
    if authorization is not None:
        headers["authorization"] = (
            authorization if authorization.startswith(("Basic", "Bearer")) else
            basic(authorization)["authorization"]
        )  # fmt: skip
    status, got = await refused(ingest, path, body, headers)
    assert (status, got) == (401, code)


# -- Figma webhook passcode -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "passcode", "code"),
    [
        ("/v1/inbound/figma", None, "ingest.missing_passcode"),
        ("/v1/inbound/figma", "", "ingest.missing_passcode"),
        ("/v1/inbound/figma", PASSCODE + "x", "ingest.bad_passcode"),
        ("/v1/inbound/figma", PASSCODE[:-1], "ingest.bad_passcode"),
        ("/v1/inbound/figma", ACME_PASSCODE, "ingest.bad_passcode"),
        ("/v1/teams/acme/inbound/figma", PASSCODE, "ingest.bad_passcode"),
    ],
)
async def test_a_figma_webhook_without_the_passcode_is_refused(ingest, path, passcode, code):
    body = figma_comment(passcode)
    status, got = await refused(ingest, path, body, {"content-type": "application/json"})
    assert (status, got) == (400, code)


async def test_a_replayed_figma_webhook_appends_nothing(ingest):
    """Figma signs nothing but the passcode, so a replay is recognised by its comment: the
    same file key and comment id land on the same job, answered 200 duplicate."""
    body = figma_comment(PASSCODE)
    headers = {"content-type": "application/json"}
    await accepted(ingest, "/v1/inbound/figma", body, headers)
    before = await ingest.position()
    again = await ingest.client.post("/v1/inbound/figma", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    assert await ingest.position() == before
