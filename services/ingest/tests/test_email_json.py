"""POST /v1/inbound/email: the seed's JSON, signed per Standard Webhooks."""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
import uuid

import pytest
from ingest_testing import ACME_ADDRESS, ACME_SECRET, legacy_signature, standard_headers

from figsync_contracts import EmailReceived, email_job_id

pytestmark = pytest.mark.integration

FIXTURE_HTML = "<p>Maarten mentioned you</p>"


def seed_email(message_id: str | None = None, **changes) -> dict:
    email = {
        "from": "Maarten (via Figma) <comments-AbC123xyz@email.figma.com>",
        "to": "you@example.com",
        "subject": "Maarten mentioned you in Onboarding",
        "html": FIXTURE_HTML,
        "text": "Maarten mentioned you",
        "timestamp": "2026-01-05T09:31:00Z",
        "messageId": message_id or f"<{uuid.uuid4().hex}@email.figma.com>",
    }
    email.update(changes)
    return email


def body_of(email: dict) -> bytes:
    return json.dumps(email).encode()


async def test_a_signed_email_is_appended_and_answered_202_with_its_job(harness):
    email = seed_email("<abc123@email.figma.com>")
    response = await harness.post_email(body_of(email))
    assert response.status_code == 202, response.text
    job_id = email_job_id("default", "abc123@email.figma.com")
    assert response.json() == {"status": "accepted", "job_id": job_id}
    [recorded] = await harness.store.read_stream(job_id)
    event = EmailReceived.model_validate(recorded.data)
    assert event.transport == "json"
    assert event.message_id == "abc123@email.figma.com"
    assert event.sender == email["from"]
    assert event.recipients == ["you@example.com"]
    assert event.html == FIXTURE_HTML and event.text == "Maarten mentioned you"
    assert event.sent_at is not None and event.sent_at.year == 2026
    assert recorded.metadata["source"] == "/services/ingest"
    assert recorded.metadata["team"] == "default"


async def test_the_same_email_again_is_a_duplicate_and_appends_nothing(harness):
    body = body_of(seed_email())
    first = await harness.post_email(body)
    before = await harness.store.last_position()
    second = await harness.post_email(body)  # a new delivery (new webhook-id) of the same email
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "job_id": first.json()["job_id"]}
    assert await harness.store.last_position() == before


async def _rejected(harness, response, status: int, code: str, before: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert await harness.store.last_position() == before


async def test_a_bad_signature_is_refused(harness):
    before = await harness.store.last_position()
    body = body_of(seed_email())
    headers = standard_headers(body)
    tampered = body.replace(b"Maarten", b"Mallory")
    response = await harness.client.post("/v1/inbound/email", content=tampered, headers=headers)
    await _rejected(harness, response, 401, "ingest.bad_signature", before)


async def test_a_signature_with_another_secret_is_refused(harness):
    before = await harness.store.last_position()
    body = body_of(seed_email())
    response = await harness.client.post(
        "/v1/inbound/email", content=body, headers=standard_headers(body, ACME_SECRET)
    )
    await _rejected(harness, response, 401, "ingest.bad_signature", before)


async def test_an_unsigned_request_is_refused(harness):
    before = await harness.store.last_position()
    response = await harness.client.post("/v1/inbound/email", json=seed_email())
    await _rejected(harness, response, 401, "ingest.missing_signature", before)


@pytest.mark.parametrize("offset", [-301, 301, -3600])
async def test_a_timestamp_outside_five_minutes_is_refused(harness, offset):
    before = await harness.store.last_position()
    response = await harness.post_email(body_of(seed_email()), timestamp=int(time.time()) + offset)
    await _rejected(harness, response, 401, "ingest.stale_timestamp", before)


async def test_a_timestamp_within_tolerance_is_accepted(harness):
    response = await harness.post_email(body_of(seed_email()), timestamp=int(time.time()) - 240)
    assert response.status_code == 202


async def test_a_replayed_webhook_id_is_refused(harness):
    body = body_of(seed_email())
    headers = standard_headers(body)
    first = await harness.client.post("/v1/inbound/email", content=body, headers=headers)
    assert first.status_code == 202
    before = await harness.store.last_position()
    replay = await harness.client.post("/v1/inbound/email", content=body, headers=headers)
    await _rejected(harness, replay, 409, "ingest.replayed", before)


async def test_a_replayed_id_is_refused_by_another_replica(make_harness):
    one, two = await make_harness(), await make_harness()
    body = body_of(seed_email())
    headers = standard_headers(body)
    assert (
        await one.client.post("/v1/inbound/email", content=body, headers=headers)
    ).status_code == 202
    replay = await two.client.post("/v1/inbound/email", content=body, headers=headers)
    assert replay.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "ingest.malformed_body"),
        (b"[1, 2, 3]", 400, "ingest.malformed_body"),
        (b"\xff\xfe\x00", 400, "ingest.malformed_body"),
        (b"", 400, "ingest.malformed_body"),
        (json.dumps({"from": "a@b.c"}).encode(), 422, "ingest.invalid_email"),
        (body_of(seed_email(html=42)), 422, "ingest.invalid_email"),
        (body_of(seed_email(messageId="<>")), 422, "ingest.missing_message_id"),
        (body_of(seed_email(to="nobody")), 422, "ingest.missing_recipient"),
        (body_of(seed_email(**{"from": "no address"})), 422, "ingest.missing_sender"),
    ],
)
async def test_a_malformed_body_is_refused(harness, body, status, code):
    before = await harness.store.last_position()
    response = await harness.post_email(body)
    await _rejected(harness, response, status, code, before)


async def test_an_oversized_body_is_refused_by_its_declared_length(make_harness):
    harness = await make_harness(max_body_bytes=1024)
    before = await harness.store.last_position()
    body = body_of(seed_email(html="x" * 2000))
    response = await harness.post_email(body)
    await _rejected(harness, response, 413, "ingest.body_too_large", before)


async def test_an_event_is_measured_as_stored_with_its_personal_fields_sealed(make_harness):
    """Sealing makes incompressible text about a tenth larger (compressed, then base64): an
    email whose plain event fits but whose stored, published form would not is refused at the
    door, while compressible text of the same size goes in."""
    harness = await make_harness(max_event_bytes=315_000)
    before = await harness.store.last_position()
    alphabet = "".join(c for c in string.printable[:94] if c not in '"\\')
    rng = random.Random(7)
    noise = "".join(rng.choice(alphabet) for _ in range(300_000))
    response = await harness.post_email(body_of(seed_email(text=noise)))
    await _rejected(harness, response, 413, "ingest.event_too_large", before)
    assert "315000 bytes" in response.json()["error"]["message"]

    accepted = await harness.post_email(body_of(seed_email(text="spacing " * 37_500)))
    assert accepted.status_code == 202, accepted.text


async def test_an_oversized_streamed_body_is_refused_while_reading(make_harness):
    harness = await make_harness(max_body_bytes=64 * 1024)
    before = await harness.store.last_position()
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(10_000):  # up to 80 MB, if the server kept reading
            sent += 8192
            yield b"x" * 8192

    headers = standard_headers(b"irrelevant")
    response = await harness.client.post("/v1/inbound/email", content=chunks(), headers=headers)
    await _rejected(harness, response, 413, "ingest.body_too_large", before)
    assert sent < 200 * 1024


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_wrong_content_type_is_refused(harness, content_type):
    before = await harness.store.last_position()
    body = body_of(seed_email())
    headers = standard_headers(body, content_type=content_type)
    response = await harness.client.post("/v1/inbound/email", content=body, headers=headers)
    await _rejected(harness, response, 415, "ingest.unsupported_media_type", before)


async def test_the_seed_hex_signature_is_refused_unless_enabled(make_harness):
    body = body_of(seed_email())
    headers = {"content-type": "application/json", "x-webhook-signature": legacy_signature(body)}
    off = await make_harness()
    refused = await off.client.post("/v1/inbound/email", content=body, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "ingest.legacy_signature_disabled"
    on = await make_harness(legacy_signature_enabled=True)
    assert (
        await on.client.post("/v1/inbound/email", content=body, headers=headers)
    ).status_code == 202
    bad = {**headers, "x-webhook-signature": "0" * 64}
    wrong = await on.client.post("/v1/inbound/email", content=body_of(seed_email()), headers=bad)
    assert wrong.json()["error"]["code"] == "ingest.bad_signature"


async def test_a_team_path_uses_the_teams_secret_and_stream(harness):
    body = body_of(seed_email("<team-path@figma>"))
    response = await harness.post_email(
        body, path="/v1/teams/acme/inbound/email", secret=ACME_SECRET
    )
    assert response.status_code == 202
    assert response.json()["job_id"] == email_job_id("acme", "team-path@figma")
    wrong = await harness.post_email(body, path="/v1/teams/acme/inbound/email")
    assert wrong.json()["error"]["code"] == "ingest.bad_signature"


async def test_an_unknown_team_is_404(harness):
    body = body_of(seed_email())
    response = await harness.post_email(body, path="/v1/teams/nobody/inbound/email")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ingest.unknown_team"
    bad_id = await harness.post_email(body, path="/v1/teams/NOT_A..TEAM/inbound/email")
    assert bad_id.status_code == 404


async def test_a_recipient_address_mapped_to_a_team_lands_on_that_team(harness):
    body = body_of(seed_email("<mapped@figma>", to=f"Acme <{ACME_ADDRESS.upper()}>"))
    response = await harness.post_email(body)  # the bare path, signed with the default secret
    assert response.status_code == 202
    assert response.json()["job_id"] == email_job_id("acme", "mapped@figma")
    [recorded] = await harness.store.read_stream(response.json()["job_id"])
    assert recorded.metadata["team"] == "acme"


async def test_a_team_without_a_secret_has_the_endpoint_off(harness):
    await harness.teams.change("bare", {"name": "no secrets"})
    response = await harness.post_email(body_of(seed_email()), path="/v1/teams/bare/inbound/email")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ingest.not_configured"


async def test_too_many_requests_from_one_address_get_429_with_retry_after(make_harness):
    harness = await make_harness(rate_per_source=0.5, rate_burst_per_source=2)
    statuses = [(await harness.post_email(body_of(seed_email()))).status_code for _ in range(3)]
    assert statuses[:2] == [202, 202]
    limited = await harness.post_email(body_of(seed_email()))
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "ingest.rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


async def test_too_many_requests_for_one_team_get_429(make_harness):
    harness = await make_harness(rate_per_team=0.5, rate_burst_per_team=1)
    assert (await harness.post_email(body_of(seed_email()))).status_code == 202
    limited = await harness.post_email(body_of(seed_email()))
    assert limited.status_code == 429
    assert "team" in limited.json()["error"]["message"]
    other_team = await harness.post_email(
        body_of(seed_email()), path="/v1/teams/acme/inbound/email", secret=ACME_SECRET
    )
    assert other_team.status_code == 202


async def test_fifty_simultaneous_deliveries_of_one_email_make_exactly_one_job(harness):
    body = body_of(seed_email("<fifty@email.figma.com>"))
    before = await harness.store.last_position()
    responses = await asyncio.gather(*(harness.post_email(body) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [202]
    assert {r.json()["job_id"] for r in responses} == {
        email_job_id("default", "fifty@email.figma.com")
    }
    events = [e for e in await harness.store.read_all(before) if e.type == EmailReceived.type]
    assert len(events) == 1


async def test_fifty_simultaneous_replays_of_one_delivery_make_exactly_one_job(harness):
    body = body_of(seed_email())
    headers = standard_headers(body)
    before = await harness.store.last_position()
    responses = await asyncio.gather(
        *(
            harness.client.post("/v1/inbound/email", content=body, headers=headers)
            for _ in range(50)
        )
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(202) == 1
    assert set(statuses) <= {200, 202, 409}
    assert len(await harness.store.read_all(before)) == 1


async def test_unknown_paths_and_methods_answer_json_errors(harness):
    missing = await harness.client.post("/v1/inbound/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ingest.not_found"
    wrong_method = await harness.client.get("/v1/inbound/email")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "ingest.method_not_allowed"


async def test_the_openapi_document_lists_every_endpoint(harness):
    spec = (await harness.client.get("/openapi.json")).json()
    for name in ("email", "email/mime", "mailgun", "sendgrid", "postmark", "figma"):
        assert f"/v1/inbound/{name}" in spec["paths"]
        assert f"/v1/teams/{{team}}/inbound/{name}" in spec["paths"]
    assert "SeedEmail" in spec["components"]["schemas"]
    assert "WebhookPayload" in spec["components"]["schemas"]
