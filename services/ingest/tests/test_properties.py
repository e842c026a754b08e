"""Hostile input: random bytes, JSON, forms and MIME at every endpoint never cause a 5xx,
and never an append unless the input was a usable message answered 202."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_testing import (
    MAILGUN_KEY,
    PASSCODE,
    POSTMARK_PASSWORD,
    SENDGRID_PASSWORD,
    basic,
    mailgun_fields,
    standard_headers,
)

pytestmark = pytest.mark.integration

FAST = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CONTENT_TYPES = {
    "email": "application/json",
    "email/mime": "message/rfc822",
    "mailgun": "application/x-www-form-urlencoded",
    "sendgrid": "multipart/form-data; boundary=xYzZY",
    "postmark": "application/json",
    "figma": "application/json",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
# Objects with the keys the parsers look for, holding anything.
EMAIL_KEYS = ["from", "to", "subject", "html", "text", "timestamp", "messageId"]
POSTMARK_KEYS = [
    "From",
    "FromFull",
    "To",
    "ToFull",
    "Subject",
    "MessageID",
    "HtmlBody",
    "TextBody",
    "Headers",
    "Date",
]
FIGMA_KEYS = [
    "event_type",
    "file_key",
    "comment_id",
    "comment",
    "mentions",
    "triggered_by",
    "created_at",
    "parent_id",
]


def keyed_objects(keys: list[str]):
    return st.dictionaries(
        st.sampled_from(keys) | st.text(max_size=8), json_values, max_size=len(keys)
    )


def headers_for(endpoint: str, body: bytes) -> dict[str, str]:
    content_type = CONTENT_TYPES[endpoint]
    if endpoint in ("email", "email/mime"):
        return standard_headers(body, content_type=content_type)
    if endpoint == "sendgrid":
        return {"content-type": content_type, **basic(SENDGRID_PASSWORD)}
    if endpoint == "postmark":
        return {"content-type": content_type, **basic(POSTMARK_PASSWORD)}
    return {"content-type": content_type}


async def send(harness, endpoint: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    before = await harness.store.last_position()
    response = await harness.client.post(
        f"/v1/inbound/{endpoint}", content=body, headers=headers or headers_for(endpoint, body)
    )
    assert response.status_code < 500, response.text
    appended = await harness.store.last_position() != before
    assert appended == (response.status_code == 202), response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message"}
    return response.status_code


@pytest.fixture
async def quiet(make_harness):
    return await make_harness(rate_per_source=0, rate_per_team=0, team_cache_seconds=60)


@FAST
@given(endpoint=st.sampled_from(sorted(CONTENT_TYPES)), body=st.binary(max_size=600))
async def test_random_bytes_never_cause_a_5xx_or_an_append(quiet, endpoint, body):
    assert 400 <= await send(quiet, endpoint, body) < 500


@FAST
@given(data=st.data())
async def test_random_json_never_causes_a_5xx_or_an_append(quiet, data):
    endpoint = data.draw(st.sampled_from(["email", "postmark", "figma"]))
    keys = {"email": EMAIL_KEYS, "postmark": POSTMARK_KEYS, "figma": FIGMA_KEYS}[endpoint]
    value = data.draw(keyed_objects(keys) | json_values)
    if endpoint == "figma" and isinstance(value, dict) and data.draw(st.booleans()):
        value["passcode"] = PASSCODE
        value.setdefault("event_type", "FILE_COMMENT")
    status = await send(quiet, endpoint, json.dumps(value).encode())
    if endpoint != "figma":
        assert 400 <= status < 500


header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Content-Type",
     "Content-Transfer-Encoding", "MIME-Version"]
)  # fmt: skip
header_values = st.sampled_from(
    ["a@b.c", "<x@y>", "=?utf-8?b?w6k=?=", "text/html; charset=iso-8859-1", "base64",
     "quoted-printable", 'multipart/alternative; boundary="b"', "text/plain; charset=bogus",
     "Mon, 05 Jan 2026 09:31:00 +0000", "Mon, 99 Foo", '"Quoted, Name" <q@x.y>', "<>", "@", ""]
) | st.text(max_size=30).map(lambda t: t.replace("\r", "").replace("\n", ""))  # fmt: skip
bodies = st.sampled_from(
    [b"", b"--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n", b"=E9=\r\n", b"w6k=\n"]
) | st.binary(max_size=200)  # fmt: skip


@FAST
@given(
    headers=st.lists(st.tuples(header_names, header_values), max_size=10),
    body=bodies,
)
async def test_random_mime_never_causes_a_5xx(quiet, headers, body):
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n" + body
    status = await send(quiet, "email/mime", raw)
    names = {name for name, _ in headers}
    if not {"From", "To", "Message-ID"} <= names:
        assert 400 <= status < 500


form_keys = st.sampled_from(
    ["from", "sender", "recipient", "subject", "body-html", "body-plain", "message-headers",
     "to", "html", "text", "headers", "envelope", "charsets", "email", "body-mime"]
)  # fmt: skip


@FAST
@given(
    endpoint=st.sampled_from(["mailgun", "sendgrid"]),
    fields=st.dictionaries(form_keys, st.text(max_size=60), max_size=8),
)
async def test_random_provider_forms_never_cause_a_5xx_or_an_append(quiet, endpoint, fields):
    if endpoint == "mailgun":
        body = urlencode({**fields, **mailgun_fields(MAILGUN_KEY)}).encode()
    else:
        body = (
            b"".join(
                f'--xYzZY\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode(
                    "utf-8", "surrogatepass"
                )
                for k, v in fields.items()
            )
            + b"--xYzZY--\r\n"
        )
    assert 400 <= await send(quiet, endpoint, body) < 500
