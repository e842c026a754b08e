"""Generated input at every ingest endpoint (default and per-team paths): random bytes and
content types, structured JSON / MIME / provider forms signed correctly so they reach the
parsers, and hostile signature headers. Never a 5xx, never an unhandled exception, every
refusal a 4xx with an error code, and an append exactly when the answer is 202."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from fuzz_testing import budget, check_answer
from hypothesis import given
from hypothesis import strategies as st
from security_testing import (
    ACME_PASSCODE,
    ACME_SECRET,
    MAILGUN_KEY,
    PASSCODE,
    POSTMARK_PASSWORD,
    SENDGRID_PASSWORD,
    Ingest,
    basic,
    build_ingest,
    mailgun_fields,
    standard_headers,
)

from figsync_eventstore import PostgresEventStore

pytestmark = pytest.mark.integration

ENDPOINTS = ["email", "email/mime", "mailgun", "sendgrid", "postmark", "figma"]
PREFIXES = ["/v1/inbound", "/v1/teams/acme/inbound", "/v1/teams/bare/inbound"]
CONTENT_TYPES = [
    "application/json",
    "message/rfc822",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xYzZY",
    "multipart/form-data",
    "text/plain",
    "",
    "application/json; charset=utf-16",
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ingest(module_pool) -> AsyncIterator[Ingest]:
    client, _ = await build_ingest(module_pool, team_cache_seconds=60)
    async with client:
        yield Ingest(client, PostgresEventStore(module_pool))


ACCEPTED: list[str] = []


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def append_only_when_accepted(ingest) -> AsyncIterator[None]:
    """Over a whole test (every example): events appended == answers 202 (a refusal or a
    duplicate appends nothing, an acceptance exactly one event). Counted once per test
    rather than per request, to keep ten thousand requests fast."""
    count = "SELECT count(*) FROM events WHERE stream_id NOT LIKE 'team:%'"
    before = await ingest.store.pool.fetchval(count)
    ACCEPTED.clear()
    yield
    appended = await ingest.store.pool.fetchval(count) - before
    assert appended == len(ACCEPTED), (appended, len(ACCEPTED))


async def send(ingest: Ingest, target: str, path: str, body: bytes, headers: dict) -> int:
    response = await ingest.client.post(path, content=body, headers=headers)
    check_answer(target, response)
    if response.status_code == 202:
        ACCEPTED.append(response.json()["job_id"])
    return response.status_code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
KEYS = {
    "email": ["from", "to", "subject", "html", "text", "timestamp", "messageId"],
    "postmark": ["From", "FromFull", "To", "ToFull", "Subject", "MessageID", "HtmlBody",
                 "TextBody", "Headers", "Date"],
    "figma": ["event_type", "passcode", "file_key", "comment_id", "comment", "mentions",
              "triggered_by", "created_at", "parent_id", "webhook_id", "timestamp"],
}  # fmt: skip
plausible = st.sampled_from(
    [
        "comments-AbC123xyz@email.figma.com",
        "Maarten (via Figma) <comments-AbC123xyz@email.figma.com>",
        "<p>@Anna Smith mentioned you</p>",
        "2026-01-05T09:31:00Z",
        "FILE_COMMENT",
        "PING",
        "<x@y>",
        "",
        " ",
        "\x00",
        "é" * 300,
        "a" * 5000,
    ]
)


def objects(keys: list[str]):
    return st.dictionaries(
        st.sampled_from(keys) | st.text(max_size=8), plausible | json_values, max_size=len(keys)
    )


def auth_for(endpoint: str, prefix: str, body: bytes, content_type: str) -> dict[str, str]:
    """Correct credentials for the endpoint and team, so the body reaches the parser."""
    acme = "/acme/" in prefix
    if endpoint in ("email", "email/mime"):
        return standard_headers(body, ACME_SECRET if acme else None or _email_secret(),
                                content_type=content_type)  # fmt: skip
    headers = {"content-type": content_type}
    if endpoint == "sendgrid":
        headers.update(basic(("acme-" if acme else "") + SENDGRID_PASSWORD))
    if endpoint == "postmark":
        headers.update(basic(("acme-" if acme else "") + POSTMARK_PASSWORD))
    return headers


def _email_secret() -> str:
    from security_testing import EMAIL_SECRET

    return EMAIL_SECRET


@budget(3500)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    prefix=st.sampled_from(PREFIXES),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.binary(max_size=800),
    signed=st.booleans(),
)
async def test_random_bytes_at_every_endpoint(ingest, endpoint, prefix, content_type, body, signed):
    headers = (
        auth_for(endpoint, prefix, body, content_type) if signed else {"content-type": content_type}
    )
    status = await send(ingest, "ingest.bytes", f"{prefix}/{endpoint}", body, headers)
    assert 400 <= status < 500


@budget(1500)
@given(data=st.data())
async def test_signed_random_json_reaches_the_parsers(ingest, data):
    endpoint = data.draw(st.sampled_from(["email", "postmark", "figma"]))
    prefix = data.draw(st.sampled_from(PREFIXES[:2]))
    value = data.draw(objects(KEYS[endpoint]) | json_values)
    if endpoint == "figma" and isinstance(value, dict) and data.draw(st.booleans()):
        value["passcode"] = ACME_PASSCODE if "/acme/" in prefix else PASSCODE
        value.setdefault("event_type", data.draw(st.sampled_from(["FILE_COMMENT", "PING"])))
    body = json.dumps(value).encode()
    headers = auth_for(endpoint, prefix, body, "application/json")
    await send(ingest, "ingest.json", f"{prefix}/{endpoint}", body, headers)


header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Content-Type",
     "Content-Transfer-Encoding", "MIME-Version", "Reply-To", "Received"]
)  # fmt: skip
header_values = st.sampled_from(
    ["a@b.c", "<x@y>", "=?utf-8?b?w6k=?=", "=?bogus?q?x?=", "text/html; charset=iso-8859-1",
     "base64", "quoted-printable", 'multipart/alternative; boundary="b"',
     "text/plain; charset=bogus", "Mon, 05 Jan 2026 09:31:00 +0000", "Mon, 99 Foo",
     '"Quoted, Name" <q@x.y>', "<>", "@", "", "comments-AbC123xyz@email.figma.com"]
) | st.text(max_size=40).map(lambda t: t.replace("\r", "").replace("\n", ""))  # fmt: skip
mime_bodies = st.sampled_from(
    [b"", b"--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n", b"=E9=\r\n",
     b"w6k=\n", b"--b\r\n\r\n--b", b"<p>@Anna Smith</p>" * 50]
) | st.binary(max_size=300)  # fmt: skip


@budget(1000)
@given(
    headers=st.lists(st.tuples(header_names, header_values), max_size=12),
    body=mime_bodies,
    prefix=st.sampled_from(PREFIXES[:2]),
)
async def test_signed_random_mime_reaches_the_parser(ingest, headers, body, prefix):
    raw = "".join(f"{n}: {v}\r\n" for n, v in headers).encode("utf-8", "surrogatepass") + b"\r\n"
    raw += body
    request_headers = auth_for("email/mime", prefix, raw, "message/rfc822")
    await send(ingest, "ingest.mime", f"{prefix}/email/mime", raw, request_headers)


form_keys = st.sampled_from(
    ["from", "sender", "recipient", "subject", "body-html", "body-plain", "message-headers",
     "to", "html", "text", "headers", "envelope", "charsets", "email", "body-mime",
     "Message-Id", "attachment-count", "stripped-html"]
)  # fmt: skip


@budget(800)
@given(
    endpoint=st.sampled_from(["mailgun", "sendgrid"]),
    fields=st.dictionaries(form_keys, plausible | st.text(max_size=60), max_size=10),
    urlencoded=st.booleans(),
)
async def test_signed_random_provider_forms_reach_the_parsers(ingest, endpoint, fields, urlencoded):
    if endpoint == "mailgun":
        fields = {**fields, **mailgun_fields(MAILGUN_KEY)}
    if urlencoded:
        body = urlencode(fields).encode()
        content_type = "application/x-www-form-urlencoded"
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
        content_type = "multipart/form-data; boundary=xYzZY"
    headers = auth_for(endpoint, "/v1/inbound", body, content_type)
    await send(ingest, "ingest.forms", f"/v1/inbound/{endpoint}", body, headers)


signature_headers = st.fixed_dictionaries(
    {},
    optional={
        "webhook-id": st.text(max_size=300) | st.just("msg_1"),
        "webhook-timestamp": st.text(max_size=20) | st.integers(-(10**12), 10**13).map(str),
        "webhook-signature": st.text(max_size=200)
        | st.lists(st.text(max_size=60).map(lambda s: "v1," + s), max_size=5).map(" ".join),
        "x-webhook-signature": st.text(max_size=80),
        "authorization": st.text(max_size=80)
        | st.binary(max_size=40).map(
            lambda b: "Basic " + __import__("base64").b64encode(b).decode()
        ),
        "content-length": st.sampled_from(["0", "-1", "abc", "99999999999", "1"]),
        "x-forwarded-for": st.text(max_size=40),
    },
)


@budget(2000)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    prefix=st.sampled_from(PREFIXES),
    extra=signature_headers,
    body=st.sampled_from([b"{}", b'{"event_type":"PING","passcode":"x"}', b"a=b", b""]),
)
async def test_hostile_headers_at_every_endpoint(ingest, endpoint, prefix, extra, body):
    headers = {"content-type": CONTENT_TYPES[ENDPOINTS.index(endpoint) % 5]}
    # Header values must be encodable as latin-1 to be sent at all; others are dropped.
    for name, value in extra.items():
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            continue
        if b"\n" not in raw and b"\r" not in raw and b"\x00" not in raw:
            headers[name] = raw  # as bytes: senders are not limited to ASCII
    headers.pop("content-length", None)  # httpx sets the true length; a lie is tested elsewhere
    await send(ingest, "ingest.headers", f"{prefix}/{endpoint}", body, headers)


@budget(300)
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(["/v1/inbound/email", "/v1/teams/acme/inbound/figma", "/v1/nothing",
                          "/v1/teams/UPPER/inbound/email", "/v1/teams/x/inbound/nothing"])
    | st.text(alphabet="abc/%.-_~", max_size=30).map(lambda p: "/v1/" + p),
)  # fmt: skip
async def test_other_methods_and_paths_answer_a_coded_4xx(ingest, method, path):
    response = await ingest.client.request(method, path)
    check_answer("ingest.paths", response)
    assert 400 <= response.status_code < 500
