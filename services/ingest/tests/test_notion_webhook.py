"""POST /v1/inbound/notion: the verification handshake, then signed page events, replays refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import NotionPageChanged, notion_page_stream_id

pytestmark = pytest.mark.integration

TOKEN = "secret_notion-verification-token-for-tests"


def event(page_id: str | None = None, **changes) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "workspace_id": str(uuid.uuid4()),
        "subscription_id": str(uuid.uuid4()),
        "integration_id": str(uuid.uuid4()),
        "type": "page.properties_updated",
        "authors": [{"id": str(uuid.uuid4()), "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page_id or str(uuid.uuid4()), "type": "page"},
        "data": {"parent": {"id": str(uuid.uuid4()), "type": "database"}, "updated_properties": []},
    }
    body.update(changes)
    return body


def signature(body: bytes, token: str = TOKEN) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def post(harness, body: bytes, team: str | None = None, **headers):
    path = f"/v1/teams/{team}/inbound/notion" if team else "/v1/inbound/notion"
    return await harness.client.post(
        path, content=body, headers={"content-type": "application/json", **headers}
    )


async def verified(harness, team: str = "default"):
    await harness.teams.change(team, {"notion_webhook_token_unseen": False},
                               secrets={"notion_webhook_token": TOKEN})  # fmt: skip


async def test_the_handshake_keeps_the_token_for_the_dashboard_to_show_once(harness):
    await harness.teams.change("nhand", {"name": "Handshake"})
    body = json.dumps({"verification_token": TOKEN}).encode()
    response = await post(harness, body, team="nhand")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "verification_token_received"}
    assert await harness.teams.get_secret("nhand", "notion_webhook_token") == TOKEN
    assert (await harness.teams.get("nhand")).notion_webhook_token_unseen
    # Once the admin has seen it (and pasted it into Notion), another handshake is refused.
    await harness.teams.change("nhand", {"notion_webhook_token_unseen": False})
    again = await post(harness, json.dumps({"verification_token": "secret_other-token"}).encode(),
                       team="nhand")  # fmt: skip
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ingest.notion_already_verified"
    assert await harness.teams.get_secret("nhand", "notion_webhook_token") == TOKEN


async def test_a_signed_page_event_becomes_notion_page_changed(harness):
    await verified(harness)
    page = str(uuid.uuid4())
    body = json.dumps(event(page)).encode()
    response = await post(harness, body, **{"X-Notion-Signature": signature(body)})
    assert response.status_code == 202, response.text
    stream = await harness.store.read_stream(notion_page_stream_id("default", page))
    assert [e.type for e in stream] == [NotionPageChanged.type]
    assert stream[0].data["page_id"] == page


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "ingest.missing_signature"),
        ({"X-Notion-Signature": "sha256=" + "0" * 64}, "ingest.bad_signature"),
        ({"X-Notion-Signature": "forged"}, "ingest.bad_signature"),
    ],
)
async def test_a_forged_or_unsigned_event_is_refused_and_appends_nothing(harness, headers, code):
    await verified(harness)
    before = await harness.store.last_position()
    response = await post(harness, json.dumps(event()).encode(), **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert await harness.store.last_position() == before


async def test_an_event_signed_with_another_token_is_refused(harness):
    await verified(harness)
    body = json.dumps(event()).encode()
    response = await post(harness, body, **{"X-Notion-Signature": signature(body, "secret_x")})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ingest.bad_signature"


async def test_a_replayed_event_is_refused_with_409(harness):
    await verified(harness)
    body = json.dumps(event()).encode()
    first = await post(harness, body, **{"X-Notion-Signature": signature(body)})
    assert first.status_code == 202
    before = await harness.store.last_position()
    again = await post(harness, body, **{"X-Notion-Signature": signature(body)})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ingest.replayed"
    assert await harness.store.last_position() == before


async def test_an_old_event_is_refused_as_a_possible_replay(harness):
    await verified(harness)
    old = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    body = json.dumps(event(timestamp=old)).encode()
    response = await post(harness, body, **{"X-Notion-Signature": signature(body)})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ingest.notion_event_too_old"
    assert "Notion poll" in response.json()["error"]["message"]


async def test_without_a_token_the_endpoint_says_how_to_turn_it_on(harness):
    await harness.teams.change("nofresh", {"name": "No Notion"})
    body = json.dumps(event()).encode()
    response = await post(harness, body, team="nofresh", **{"X-Notion-Signature": signature(body)})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ingest.not_configured"


async def test_malformed_events_get_a_4xx_naming_the_problem(harness):
    await verified(harness)
    for body in (b"not json", json.dumps({"id": "x", "type": "page.created"}).encode()):
        response = await post(harness, body, **{"X-Notion-Signature": signature(body)})
        assert 400 <= response.status_code < 500
        assert response.json()["error"]["code"].startswith("ingest.")


async def test_events_about_other_things_are_answered_and_ignored(harness):
    await verified(harness)
    before = await harness.store.last_position()
    body = json.dumps(event(type="database.schema_updated",
                            entity={"id": str(uuid.uuid4()), "type": "database"})).encode()  # fmt: skip
    response = await post(harness, body, **{"X-Notion-Signature": signature(body)})
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert await harness.store.last_position() == before
