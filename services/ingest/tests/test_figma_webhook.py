"""POST /v1/inbound/figma: Figma webhooks V2 (PING, FILE_COMMENT), passcode in constant time."""

from __future__ import annotations

import json
import uuid

import pytest
from ingest_testing import PASSCODE

from figsync_contracts import CommentReceived, comment_job_id
from figsync_sandbox.figma import FigmaState

pytestmark = pytest.mark.integration


@pytest.fixture
def figma() -> FigmaState:
    """Figma's data with a fresh file (tests share a database, so comment ids must not repeat)."""
    state = FigmaState(webhook_passcode=PASSCODE)
    state.add_file(f"Test{uuid.uuid4().hex[:18]}", "Onboarding")
    return state


def key_of(figma: FigmaState) -> str:
    return next(key for key in figma.files if key.startswith("Test"))


def file_comment(figma: FigmaState, **changes) -> dict:
    comment = figma.add_comment(
        key_of(figma), "@Anna Smith please check the spacing", author="Maarten", emit=False
    )
    payload = figma.webhook_payload(key_of(figma), comment.id)
    payload.update(changes)
    return payload


async def post(harness, payload, path: str = "/v1/inbound/figma", **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await harness.client.post(
        path, content=body, headers={"content-type": "application/json", **headers}
    )


async def test_ping_is_answered_200_and_appends_nothing(harness):
    before = await harness.store.last_position()
    ping = {
        "event_type": "PING",
        "passcode": PASSCODE,
        "webhook_id": "22",
        "timestamp": "2026-01-05T09:30:00Z",
    }
    response = await post(harness, ping)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert await harness.store.last_position() == before


async def test_a_file_comment_is_appended_as_comment_received(harness, figma):
    payload = file_comment(figma)
    response = await post(harness, payload)
    assert response.status_code == 202, response.text
    job_id = comment_job_id("default", key_of(figma), payload["comment_id"])
    assert response.json() == {"status": "accepted", "job_id": job_id}
    [recorded] = await harness.store.read_stream(job_id)
    event = CommentReceived.model_validate(recorded.data)
    assert event.origin == "webhook"
    assert event.text == "@Anna Smith please check the spacing"
    assert event.mentions == ["Anna Smith"]
    assert event.author_handle == "Maarten"
    assert event.parent_id is None  # "" in the payload means absent
    assert event.file_name == payload["file_name"]
    assert event.created_at is not None
    assert event.webhook_id == "22"


async def test_a_reply_keeps_its_parent(harness, figma):
    root = figma.add_comment(key_of(figma), "root", emit=False)
    reply = figma.add_comment(key_of(figma), "@Maarten yes", parent_id=root.id, emit=False)
    response = await post(harness, figma.webhook_payload(key_of(figma), reply.id))
    [recorded] = await harness.store.read_stream(response.json()["job_id"])
    assert recorded.data["parent_id"] == root.id


async def test_figmas_retry_of_the_same_comment_is_a_duplicate(harness, figma):
    payload = file_comment(figma)
    first = await post(harness, payload)
    before = await harness.store.last_position()
    retry = await post(harness, {**payload, "retries": 1})
    assert (first.status_code, retry.status_code) == (202, 200)
    assert retry.json()["status"] == "duplicate"
    assert await harness.store.last_position() == before


@pytest.mark.parametrize(
    ("passcode", "code"),
    [
        ("wrong", "ingest.bad_passcode"),
        (PASSCODE + "x", "ingest.bad_passcode"),
        ("", "ingest.missing_passcode"),
    ],
)
async def test_a_wrong_passcode_gets_400_and_appends_nothing(harness, figma, passcode, code):
    before = await harness.store.last_position()
    response = await post(harness, file_comment(figma, passcode=passcode))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert await harness.store.last_position() == before


async def test_a_ping_with_a_wrong_passcode_gets_400(harness):
    response = await post(harness, {"event_type": "PING", "passcode": "nope"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "ingest.malformed_body"),
        (b"null", 400, "ingest.malformed_body"),
        (
            json.dumps(
                {"event_type": "FILE_COMMENT", "passcode": PASSCODE, "comment": "x"}
            ).encode(),
            422,
            "ingest.invalid_webhook",
        ),
        (
            json.dumps(
                {
                    "event_type": "FILE_COMMENT",
                    "passcode": PASSCODE,
                    "file_key": "",
                    "comment_id": "1",
                }
            ).encode(),
            422,
            "ingest.invalid_webhook",
        ),
        (
            json.dumps(
                {"event_type": "FILE_COMMENT", "passcode": PASSCODE, "file_key": 7}
            ).encode(),
            422,
            "ingest.invalid_webhook",
        ),
    ],
)
async def test_a_malformed_payload_is_refused(harness, body, status, code):
    before = await harness.store.last_position()
    response = await post(harness, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await harness.store.last_position() == before


async def test_other_event_types_are_acknowledged_and_ignored(harness):
    before = await harness.store.last_position()
    response = await post(
        harness, {"event_type": "FILE_UPDATE", "passcode": PASSCODE, "file_key": "k"}
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert await harness.store.last_position() == before


async def test_a_wrong_content_type_is_415(harness, figma):
    body = json.dumps(file_comment(figma)).encode()
    response = await harness.client.post(
        "/v1/inbound/figma", content=body, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


async def test_an_oversized_payload_is_413(make_harness, figma):
    harness = await make_harness(max_body_bytes=512)
    response = await post(harness, file_comment(figma, file_name="x" * 1000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "ingest.body_too_large"


async def test_a_team_without_a_passcode_has_the_endpoint_off(harness, figma):
    response = await post(harness, file_comment(figma), path="/v1/teams/acme/inbound/figma")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ingest.not_configured"


async def test_a_team_path_uses_the_teams_passcode_and_stream(harness, figma):
    await harness.teams.change("studio", {}, secrets={"figma_webhook_passcode": "studio-pass"})
    payload = file_comment(figma, passcode="studio-pass")
    response = await post(harness, payload, path="/v1/teams/studio/inbound/figma")
    assert response.status_code == 202
    assert response.json()["job_id"] == comment_job_id(
        "studio", key_of(figma), payload["comment_id"]
    )
    assert (await post(harness, payload)).status_code == 400  # not the default team's passcode
