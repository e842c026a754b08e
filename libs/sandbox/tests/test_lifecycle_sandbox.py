"""What a task's life after creation needs: Figma reactions and resolving, Notion's timestamp
filters, status changes and signed webhooks (handshake, retries, replays, the bot's own edits)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sandbox_shapes import validate_figma_response

from figsync_sandbox import (
    DEFAULT_FILE_KEY,
    DEFAULT_REPLY_COMMENT_ID,
    DEFAULT_ROOT_COMMENT_ID,
    NOTION_VERSION,
    TASKS_DATA_SOURCE_ID,
    TASKS_DATABASE_ID,
)
from figsync_sandbox.notion import BOT_ID, INTEGRATION_ID, PERSON_USER_ID, WORKSPACE_ID

REACTIONS = "/v1/files/{file_key}/comments/{comment_id}/reactions"
ROOT_REACTIONS = f"/v1/files/{DEFAULT_FILE_KEY}/comments/{DEFAULT_ROOT_COMMENT_ID}/reactions"
MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z")


@pytest.fixture
async def figma(sandbox_api):
    async with httpx.AsyncClient(
        base_url=sandbox_api.figma_url, headers={"X-Figma-Token": sandbox_api.figma_token}
    ) as client:
        yield client


@pytest.fixture
async def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    headers = {
        "Authorization": f"Bearer {sandbox_api.notion_token}",
        "Notion-Version": NOTION_VERSION,
    }
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url, headers=headers) as client:
        yield client
    sandbox_api.notion.configure(burst=10)


@pytest.fixture
async def control(sandbox_api):
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url) as client:
        yield client


class Receiver:
    """A webhook endpoint in the test's loop that keeps raw bodies and fails its first calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, dict[str, str]]] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.received.append((await request.body(), dict(request.headers)))
            status = 500 if len(self.received) <= self.failures else 200
            return JSONResponse({}, status_code=status)

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(raw) for raw, _ in self.received]

    async def wait_for(self, count: int) -> None:
        for _ in range(300):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")

    async def __aenter__(self):
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc):
        self.server.should_exit = True
        await self.task


def signature_of(token: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()


# -- Figma: reactions -------------------------------------------------------------------------


async def test_reaction_is_added_once_listed_shown_on_the_comment_and_removed(sandbox_api, figma):
    first = await figma.post(ROOT_REACTIONS, json={"emoji": ":eyes:"})
    validate_figma_response("post", REACTIONS, first)
    assert first.json() == {"status": 200, "error": False}
    again = await figma.post(ROOT_REACTIONS, json={"emoji": ":eyes:"})
    assert again.status_code == 200

    listed = await figma.get(ROOT_REACTIONS)
    validate_figma_response("get", REACTIONS, listed)
    assert [(r["emoji"], r["user"]["handle"]) for r in listed.json()["reactions"]] == [
        (":eyes:", "figsync")
    ]
    assert listed.json()["pagination"] == {}
    comments = await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")
    validate_figma_response("get", "/v1/files/{file_key}/comments", comments)
    root = next(c for c in comments.json()["comments"] if c["id"] == DEFAULT_ROOT_COMMENT_ID)
    assert [r["emoji"] for r in root["reactions"]] == [":eyes:"]

    removed = await figma.delete(ROOT_REACTIONS, params={"emoji": ":eyes:"})
    validate_figma_response("delete", REACTIONS, removed)
    missing = await figma.delete(ROOT_REACTIONS, params={"emoji": ":eyes:"})
    assert missing.status_code == 404
    validate_figma_response("delete", REACTIONS, missing)
    assert (await figma.get(ROOT_REACTIONS)).json()["reactions"] == []

    calls = (await figma.get("/_sandbox/state")).json()["reaction_calls"]
    assert [(c["method"], c["changed"], c["status"]) for c in calls] == [
        ("POST", True, 200),
        ("POST", False, 200),
        ("DELETE", True, 200),
        ("DELETE", False, 404),
    ]
    assert {(c["emoji"], c["user"], c["comment_id"]) for c in calls} == {
        (":eyes:", "figsync", DEFAULT_ROOT_COMMENT_ID)
    }


async def test_skin_tones_and_several_emojis_are_kept_in_order(figma):
    for emoji in (":white_check_mark:", ":+1::skin-tone-2:", ":tada:", ":x:"):
        assert (await figma.post(ROOT_REACTIONS, json={"emoji": emoji})).status_code == 200
    emojis = [r["emoji"] for r in (await figma.get(ROOT_REACTIONS)).json()["reactions"]]
    assert emojis == [":white_check_mark:", ":+1::skin-tone-2:", ":tada:", ":x:"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"emoji": "eyes"}',
        b'{"emoji": ":eyes"}',
        b'{"emoji": "\xf0\x9f\x91\x80"}',
        b'{"emoji": ":EYES:"}',
        b'{"emoji": ":eyes: :x:"}',
        b'{"emoji": 42}',
        b"{}",
        b"{not json",
        b'{"emoji": ":' + b"a" * 100 + b':"}',
    ],
    ids=["bare", "half", "native", "upper", "two", "number", "missing", "malformed", "long"],
)
async def test_bad_emoji_is_a_400_in_figmas_shape(sandbox_api, figma, content):
    resp = await figma.post(
        ROOT_REACTIONS, content=content, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    validate_figma_response("post", REACTIONS, resp)
    assert "emoji" in resp.json()["message"]
    assert sandbox_api.figma.comment(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID).reactions == []


async def test_delete_needs_a_valid_emoji(figma):
    assert (await figma.delete(ROOT_REACTIONS)).status_code == 400
    assert (await figma.delete(ROOT_REACTIONS, params={"emoji": "eyes"})).status_code == 400


async def test_unknown_file_or_comment_is_404_for_every_method(figma):
    for path in (
        f"/v1/files/doesNotExist123/comments/{DEFAULT_ROOT_COMMENT_ID}/reactions",
        f"/v1/files/{DEFAULT_FILE_KEY}/comments/999/reactions",
    ):
        got = await figma.get(path)
        posted = await figma.post(path, json={"emoji": ":eyes:"})
        deleted = await figma.delete(path, params={"emoji": ":eyes:"})
        for method, resp in (("get", got), ("post", posted), ("delete", deleted)):
            assert resp.status_code == 404, (method, path)
            validate_figma_response(method, REACTIONS, resp)


async def test_only_the_callers_own_reaction_can_be_deleted(sandbox_api, figma):
    sandbox_api.figma.add_reaction(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":eyes:", "Maarten")
    resp = await figma.delete(ROOT_REACTIONS, params={"emoji": ":eyes:"})
    assert resp.status_code == 404
    reactions = (await figma.get(ROOT_REACTIONS)).json()["reactions"]
    assert [r["user"]["handle"] for r in reactions] == ["Maarten"]
    # The same emoji from a second user is a second reaction.
    assert (await figma.post(ROOT_REACTIONS, json={"emoji": ":eyes:"})).status_code == 200
    assert len((await figma.get(ROOT_REACTIONS)).json()["reactions"]) == 2


async def test_reactions_share_the_tier2_budget_of_comments(sandbox_api, figma):
    sandbox_api.figma.configure(tier2_per_minute=2)
    assert (await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")).status_code == 200
    assert (await figma.post(ROOT_REACTIONS, json={"emoji": ":eyes:"})).status_code == 200
    for resp in (
        await figma.post(ROOT_REACTIONS, json={"emoji": ":tada:"}),
        await figma.delete(ROOT_REACTIONS, params={"emoji": ":eyes:"}),
        await figma.get(ROOT_REACTIONS),
    ):
        assert resp.status_code == 429
        assert 0 < int(resp.headers["Retry-After"]) <= 60
    validate_figma_response("post", REACTIONS, resp)
    assert [c["changed"] for c in sandbox_api.figma.reaction_calls] == [True]
    sandbox_api.figma.configure(tier2_per_minute=25)


async def test_bad_token_is_403(sandbox_api):
    async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as client:
        resp = await client.post(ROOT_REACTIONS, json={"emoji": ":eyes:"})
    assert resp.status_code == 403
    validate_figma_response("post", REACTIONS, resp)


async def test_long_reaction_lists_are_paginated(sandbox_api, figma):
    for i in range(30):
        user = sandbox_api.figma.add_user(f"reactor{i}")
        sandbox_api.figma.add_reaction(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":+1:", user.id)
    first = await figma.get(ROOT_REACTIONS)
    validate_figma_response("get", REACTIONS, first)
    assert len(first.json()["reactions"]) == 25
    second = await figma.get(first.json()["pagination"]["next_page"])
    validate_figma_response("get", REACTIONS, second)
    handles = [r["user"]["handle"] for r in first.json()["reactions"] + second.json()["reactions"]]
    assert handles == [f"reactor{i}" for i in range(30)]
    assert "next_page" not in second.json()["pagination"]
    assert "prev_page" in second.json()["pagination"]
    assert (await figma.get(ROOT_REACTIONS, params={"cursor": "x"})).status_code == 400


# -- Figma: resolving -------------------------------------------------------------------------


async def test_resolving_through_the_control_api_shows_in_get_comments(sandbox_api, figma):
    async with Receiver() as receiver:
        sandbox_api.figma.configure(webhook_url=receiver.url)
        resolve = f"/_sandbox/files/{DEFAULT_FILE_KEY}/comments/{DEFAULT_ROOT_COMMENT_ID}/resolve"
        resp = await figma.post(resolve, json={"resolved": True})
        assert resp.status_code == 200
        resolved_at = resp.json()["resolved_at"]
        assert resolved_at is not None
        comments = (await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")).json()["comments"]
        root = next(c for c in comments if c["id"] == DEFAULT_ROOT_COMMENT_ID)
        assert root["resolved_at"] == resolved_at
        assert datetime.fromisoformat(resolved_at) >= datetime.fromisoformat(root["created_at"])

        assert (await figma.post(resolve, json={"resolved": False})).json()["resolved_at"] is None
        assert (await figma.post(resolve)).json()["resolved_at"] is not None
        await asyncio.sleep(0.1)
    sandbox_api.figma.configure(webhook_url="")
    assert receiver.received == [] and sandbox_api.figma.deliveries == []


async def test_resolving_unknown_or_reply_comments_is_refused(sandbox_api, figma):
    base = f"/_sandbox/files/{DEFAULT_FILE_KEY}/comments"
    assert (await figma.post(f"{base}/999/resolve", json={})).status_code == 404
    assert (await figma.post("/_sandbox/files/nope123/comments/1/resolve")).status_code == 404
    reply = await figma.post(f"{base}/{DEFAULT_REPLY_COMMENT_ID}/resolve")
    assert reply.status_code == 400 and "root comment" in reply.json()["error"]
    bad = await figma.post(f"{base}/{DEFAULT_ROOT_COMMENT_ID}/resolve", json={"resolved": "yes"})
    assert bad.status_code == 400
    comment = sandbox_api.figma.resolve_comment(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    assert comment.resolved_at is not None


# -- Notion: edit times and timestamp filters -------------------------------------------------


def task(title: str, created_from: str = "") -> dict:
    props = {"Title": {"title": [{"text": {"content": title}}]}}
    if created_from:
        props["Created From"] = {"rich_text": [{"text": {"content": created_from}}]}
    return {"parent": {"data_source_id": TASKS_DATA_SOURCE_ID}, "properties": props}


async def query(notion, **body) -> list[str]:
    resp = await notion.post(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query", json=body)
    assert resp.status_code == 200, resp.text
    return [p["properties"]["Title"]["title"][0]["plain_text"] for p in resp.json()["results"]]


async def test_every_edit_bumps_last_edited_time_and_later_edits_sort_later(notion):
    a = (await notion.post("/v1/pages", json=task("A"))).json()
    b = (await notion.post("/v1/pages", json=task("B"))).json()
    assert MINUTE.fullmatch(a["last_edited_time"]) and MINUTE.fullmatch(a["created_time"])
    by_edit = {"sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]}
    assert await query(notion, **by_edit) == ["A", "B"]

    patch = {"properties": {"Summary": {"rich_text": [{"text": {"content": "x"}}]}}}
    patched = (await notion.patch(f"/v1/pages/{a['id']}", json=patch)).json()
    assert patched["last_edited_time"] >= a["last_edited_time"]
    assert await query(notion, **by_edit) == ["B", "A"]

    block = {"paragraph": {"rich_text": [{"text": {"content": "more"}}]}}
    resp = await notion.patch(f"/v1/blocks/{b['id']}/children", json={"children": [block]})
    assert resp.status_code == 200
    assert await query(notion, **by_edit) == ["A", "B"]
    by_creation = {"sorts": [{"timestamp": "created_time", "direction": "descending"}]}
    assert await query(notion, **by_creation) == ["B", "A"]


async def test_timestamp_filters_compare_exact_edit_times(notion):
    a = (await notion.post("/v1/pages", json=task("A", "figma"))).json()
    await asyncio.sleep(0.01)
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await notion.post("/v1/pages", json=task("B"))
    await notion.post("/v1/pages", json=task("C", "figma"))
    mark = between.isoformat().replace("+00:00", "Z")

    def edited(op, value):
        return {"timestamp": "last_edited_time", "last_edited_time": {op: value}}

    assert sorted(await query(notion, filter=edited("after", mark))) == ["B", "C"]
    assert await query(notion, filter=edited("before", mark)) == ["A"]
    assert await query(notion, filter=edited("on_or_before", mark)) == ["A"]
    # What a client saw for A (rounded to the minute) still finds A and everything after it.
    shown = a["last_edited_time"]
    assert sorted(await query(notion, filter=edited("on_or_after", shown))) == ["A", "B", "C"]
    assert "A" in await query(notion, filter=edited("equals", shown))
    day = a["created_time"][:10]
    created = {"timestamp": "created_time", "created_time": {"on_or_after": day}}
    assert sorted(await query(notion, filter=created)) == ["A", "B", "C"]
    for op, titles in (("before", []), ("after", []), ("equals", ["A", "B", "C"])):
        created = {"timestamp": "created_time", "created_time": {op: day}}
        assert sorted(await query(notion, filter=created)) == titles, op
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await query(notion, filter=edited("after", future)) == []
    assert sorted(await query(notion, filter=edited("past_week", {}))) == ["A", "B", "C"]

    compound = {
        "and": [
            edited("on_or_after", mark),
            {"property": "Created From", "rich_text": {"is_not_empty": True}},
        ]
    }
    assert await query(notion, filter=compound) == ["C"]
    either = {"or": [edited("before", mark), {"property": "Title", "title": {"equals": "B"}}]}
    assert sorted(await query(notion, filter=either)) == ["A", "B"]


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "yesterday"}},
            "body.filter.last_edited_time.on_or_after should be a valid ISO 8601 date string, "
            'instead was `"yesterday"`.',
        ),
        (
            {"timestamp": "created_time", "created_time": {"after": "2026-13-01"}},
            "body.filter.created_time.after should be a valid ISO 8601 date string",
        ),
        (
            {"timestamp": "last_edited_time", "last_edited_time": {"before": 1700000000}},
            "should be a valid ISO 8601 date string, instead was `1700000000`.",
        ),
        (
            {"timestamp": "last_edited_time"},
            "body.filter.last_edited_time should be defined, instead was `undefined`.",
        ),
        (
            {"timestamp": "edited", "edited": {"after": "2026-01-01"}},
            "body.filter.timestamp should be",
        ),
        (
            {"timestamp": "last_edited_time", "last_edited_time": {"around": "2026-01-01"}},
            "is not a supported condition",
        ),
        (
            {
                "and": [
                    {"property": "Title", "title": {"is_not_empty": True}},
                    {"timestamp": "created_time", "created_time": {"equals": "2026-02-30"}},
                ]
            },
            "body.filter.and[1].created_time.equals should be a valid ISO 8601 date string",
        ),
    ],
    ids=["word", "month-13", "number", "missing", "unknown-timestamp", "unknown-op", "nested"],
)
async def test_bad_timestamp_filters_are_validation_errors(notion, flt, message):
    await notion.post("/v1/pages", json=task("A"))
    resp = await notion.post(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query", json={"filter": flt})
    assert resp.status_code == 400
    assert resp.json()["code"] == "validation_error"
    assert message in resp.json()["message"], resp.json()["message"]


async def test_bad_timestamp_sort_is_a_validation_error(notion):
    resp = await notion.post(
        f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query",
        json={"sorts": [{"timestamp": "edited_time", "direction": "ascending"}]},
    )
    assert resp.status_code == 400 and "body.sorts[0].timestamp" in resp.json()["message"]


# -- Notion: status property and its groups ---------------------------------------------------


async def test_status_property_has_notions_three_groups_with_option_ids(notion, control):
    ds = (await notion.get(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")).json()
    status = ds["properties"]["Status"]["status"]
    ids = {o["name"]: o["id"] for o in status["options"]}
    groups = {g["name"]: g["option_ids"] for g in status["groups"]}
    assert groups == {
        "To-do": [ids["Not started"]],
        "In progress": [ids["In progress"]],
        "Complete": [ids["Done"]],
    }
    seeded = await control.post(
        "/_sandbox/databases",
        json={
            "title": "Board",
            "properties": {
                "Name": {"title": {}},
                "State": {"status": {}},
                "Stage": {
                    "status": {
                        "options": [
                            {"name": "Backlog", "group": "To-do"},
                            {"name": "Ready", "group": "To-do"},
                            {"name": "Shipped", "group": "Complete"},
                            {"name": "Review", "group": "In progress"},
                        ]
                    }
                },
            },
        },
    )
    assert seeded.status_code == 200, seeded.text
    board = await notion.get(f"/v1/data_sources/{seeded.json()['data_source_id']}")
    props = board.json()["properties"]
    assert [o["name"] for o in props["State"]["status"]["options"]] == [
        "Not started",
        "In progress",
        "Done",
    ]
    stage = props["Stage"]["status"]
    by_name = {o["id"]: o["name"] for o in stage["options"]}
    assert {g["name"]: [by_name[i] for i in g["option_ids"]] for g in stage["groups"]} == {
        "To-do": ["Backlog", "Ready"],
        "In progress": ["Review"],
        "Complete": ["Shipped"],
    }
    bad = await control.post(
        "/_sandbox/databases",
        json={
            "title": "Bad",
            "properties": {
                "Name": {"title": {}},
                "S": {"status": {"options": [{"name": "A", "group": "Later"}]}},
            },
        },
    )
    assert bad.status_code == 400


# -- Notion: webhooks -------------------------------------------------------------------------


async def subscribe(control, url: str, **extra) -> dict:
    resp = await control.post("/_sandbox/webhooks", json={"url": url, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_handshake_sends_the_token_unsigned(control):
    async with Receiver() as receiver:
        sub = await subscribe(control, receiver.url)
        assert sub["verification_token"].startswith("secret_")
        assert sub["on_api_changes"] is True
        assert (sub["workspace_id"], sub["integration_id"]) == (WORKSPACE_ID, INTEGRATION_ID)
        resp = await control.post("/_sandbox/webhooks/verify")
        assert resp.status_code == 200 and resp.json()["status"] == 200
    (raw, headers) = receiver.received[0]
    assert json.loads(raw) == {"verification_token": sub["verification_token"]}
    assert "x-notion-signature" not in headers
    given = await subscribe(control, receiver.url, verification_token="secret_chosen")
    assert given["verification_token"] == "secret_chosen"


async def test_status_change_by_a_person_sends_a_signed_properties_updated_event(
    sandbox_api, notion, control
):
    page = (await notion.post("/v1/pages", json=task("Review copy"))).json()
    status_id = (await notion.get(f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")).json()["properties"][
        "Status"
    ]["id"]
    async with Receiver() as receiver:
        sub = await subscribe(control, receiver.url, verification_token="secret_abc")
        resp = await control.post(f"/_sandbox/pages/{page['id']}/status", json={"status": "Done"})
        assert resp.status_code == 200, resp.text
        event_id = resp.json()["event_id"]
        assert resp.json()["page"]["properties"]["Status"]["status"]["name"] == "Done"
        await receiver.wait_for(1)

    raw, headers = receiver.received[0]
    assert hmac.compare_digest(headers["x-notion-signature"], signature_of("secret_abc", raw))
    event = json.loads(raw)
    assert event == {
        "id": event_id,
        "timestamp": event["timestamp"],
        "workspace_id": WORKSPACE_ID,
        "workspace_name": "figsync sandbox",
        "subscription_id": sub["id"],
        "integration_id": INTEGRATION_ID,
        "type": "page.properties_updated",
        "authors": [{"id": PERSON_USER_ID, "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page["id"], "type": "page"},
        "data": {
            "parent": {
                "id": TASKS_DATABASE_ID,
                "type": "database",
                "data_source_id": TASKS_DATA_SOURCE_ID,
            },
            "updated_properties": [status_id],
        },
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", event["timestamp"])
    got = (await notion.get(f"/v1/pages/{page['id']}")).json()
    assert got["properties"]["Status"]["status"]["name"] == "Done"
    assert got["last_edited_by"]["id"] == PERSON_USER_ID
    since = {"on_or_after": event["timestamp"]}  # the time of the change itself
    edited = {"timestamp": "last_edited_time", "last_edited_time": since}
    assert await query(notion, filter=edited) == ["Review copy"]
    deliveries = sandbox_api.notion.snapshot()["webhook_deliveries"]
    assert [(d["event_id"], d["attempt"], d["status"]) for d in deliveries] == [(event_id, 1, 200)]


async def test_status_changes_are_validated(notion, control):
    page = (await notion.post("/v1/pages", json=task("A"))).json()
    url = f"/_sandbox/pages/{page['id']}/status"
    unknown = await control.post(url, json={"status": "Blocked"})
    assert unknown.status_code == 400
    assert 'Status option "Blocked" does not exist' in unknown.json()["error"]
    wrong_prop = await control.post(url, json={"status": "Done", "property": "Priority"})
    assert wrong_prop.status_code == 400 and "not a status property" in wrong_prop.json()["error"]
    missing = await control.post(
        "/_sandbox/pages/00000000-0000-4000-8000-000000000000/status", json={"status": "Done"}
    )
    assert missing.status_code == 404
    assert (await control.post(url, json={})).status_code == 400
    named = await control.post(url, json={"status": "In progress", "property": "Status"})
    assert named.status_code == 200 and named.json()["event_id"] is None  # no subscription


@pytest.mark.parametrize(("failures", "attempts"), [(2, 3), (10, 4)])
async def test_failed_deliveries_are_retried_with_the_same_event_id(
    sandbox_api, notion, control, failures, attempts
):
    page = (await notion.post("/v1/pages", json=task("A"))).json()
    async with Receiver(failures) as receiver:
        sub = await subscribe(control, receiver.url, retry_delays=[0.01], on_api_changes=False)
        resp = await control.post(f"/_sandbox/pages/{page['id']}/status", json={"status": "Done"})
        await receiver.wait_for(attempts)
        await asyncio.sleep(0.1)
    assert len(receiver.received) == attempts
    assert {b["id"] for b in receiver.bodies} == {resp.json()["event_id"]}
    assert [b["attempt_number"] for b in receiver.bodies] == list(range(1, attempts + 1))
    for raw, headers in receiver.received:
        assert headers["x-notion-signature"] == signature_of(sub["verification_token"], raw)
    deliveries = sandbox_api.notion.snapshot()["webhook_deliveries"]
    statuses = [500] * min(failures, attempts) + [200] * (attempts - min(failures, attempts))
    assert [d["status"] for d in deliveries] == statuses


async def test_unreachable_endpoint_is_recorded_and_the_api_answer_is_not_delayed(
    sandbox_api, notion, control
):
    page = (await notion.post("/v1/pages", json=task("A"))).json()
    await subscribe(control, "http://127.0.0.1:9/hook", retry_delays=[0.3], max_attempts=3)
    started = asyncio.get_running_loop().time()
    resp = await control.post(f"/_sandbox/pages/{page['id']}/status", json={"status": "Done"})
    assert resp.status_code == 200
    assert asyncio.get_running_loop().time() - started < 0.3
    for _ in range(200):
        deliveries = sandbox_api.notion.snapshot()["webhook_deliveries"]
        if len(deliveries) == 3:
            break
        await asyncio.sleep(0.01)
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert all(d["error"] and d["status"] is None for d in deliveries)


async def test_replay_resends_an_event_byte_for_byte(notion, control):
    page = (await notion.post("/v1/pages", json=task("A"))).json()
    async with Receiver() as receiver:
        await subscribe(control, receiver.url, on_api_changes=False)
        resp = await control.post(f"/_sandbox/pages/{page['id']}/status", json={"status": "Done"})
        await receiver.wait_for(1)
        replay = await control.post(
            "/_sandbox/webhooks/replay", json={"event_id": resp.json()["event_id"]}
        )
        assert replay.status_code == 200 and replay.json()["status"] == 200
        assert replay.json()["kind"] == "replay"
        unknown = await control.post("/_sandbox/webhooks/replay", json={"event_id": "nope"})
        assert unknown.status_code == 404
    (first, first_headers), (again, again_headers) = receiver.received
    assert again == first
    assert again_headers["x-notion-signature"] == first_headers["x-notion-signature"]


async def test_hand_made_events_are_signed_unless_a_signature_is_given(control):
    async with Receiver() as receiver:
        sub = await subscribe(control, receiver.url)
        body = {"id": "forged", "type": "page.properties_updated"}
        signed = await control.post("/_sandbox/webhooks/send", json={"body": body})
        forged = await control.post(
            "/_sandbox/webhooks/send", json={"body": body, "signature": "sha256=00"}
        )
        unsigned = await control.post(
            "/_sandbox/webhooks/send", json={"raw": "{not json", "signature": None}
        )
        assert [r.json()["status"] for r in (signed, forged, unsigned)] == [200, 200, 200]
    (raw, headers), (_, forged_headers), (raw3, headers3) = receiver.received
    assert json.loads(raw) == body
    assert headers["x-notion-signature"] == signature_of(sub["verification_token"], raw)
    assert forged_headers["x-notion-signature"] == "sha256=00"
    assert raw3 == b"{not json" and "x-notion-signature" not in headers3


async def test_the_bots_own_api_edits_send_events_when_asked(sandbox_api, notion, control):
    async with Receiver() as receiver:
        sub = await subscribe(control, receiver.url, on_api_changes=True)
        page = (await notion.post("/v1/pages", json=task("A"))).json()
        summary = {"Summary": {"rich_text": [{"text": {"content": "new"}}]}}
        await notion.patch(f"/v1/pages/{page['id']}", json={"properties": summary})
        await notion.patch(f"/v1/pages/{page['id']}", json={"properties": summary})  # no change
        block = {"paragraph": {"rich_text": [{"text": {"content": "more"}}]}}
        await notion.patch(f"/v1/blocks/{page['id']}/children", json={"children": [block]})
        await notion.patch(f"/v1/pages/{page['id']}", json={"in_trash": True})
        await receiver.wait_for(4)
        await asyncio.sleep(0.1)
    events = receiver.bodies
    assert [e["type"] for e in events] == [
        "page.created",
        "page.properties_updated",
        "page.content_updated",
        "page.deleted",
    ]
    assert all(e["authors"] == [{"id": BOT_ID, "type": "bot"}] for e in events)
    assert all(e["entity"] == {"id": page["id"], "type": "page"} for e in events)
    summary_id = page["properties"]["Summary"]["id"]
    assert events[1]["data"]["updated_properties"] == [summary_id]
    assert events[2]["data"]["updated_blocks"][0]["type"] == "block"
    assert events[0]["data"] == {
        "parent": {
            "id": TASKS_DATABASE_ID,
            "type": "database",
            "data_source_id": TASKS_DATA_SOURCE_ID,
        }
    }
    for raw, headers in receiver.received:
        assert headers["x-notion-signature"] == signature_of(sub["verification_token"], raw)
    snapshot_events = sandbox_api.notion.snapshot()["webhook_events"]
    assert [e["id"] for e in snapshot_events] == [e["id"] for e in events]


async def test_api_edits_send_nothing_when_not_asked(sandbox_api, notion, control):
    async with Receiver() as receiver:
        await subscribe(control, receiver.url, on_api_changes=False)
        page = (await notion.post("/v1/pages", json=task("A"))).json()
        status = {"Status": {"status": {"name": "Done"}}}
        await notion.patch(f"/v1/pages/{page['id']}", json={"properties": status})
        await asyncio.sleep(0.1)
    assert receiver.received == []
    assert sandbox_api.notion.snapshot()["webhook_events"] == []


async def test_webhook_control_errors(control):
    assert (await control.post("/_sandbox/webhooks/verify")).status_code == 400
    body = {"body": {"x": 1}}
    assert (await control.post("/_sandbox/webhooks/send", json=body)).status_code == 400
    for bad in (
        {},
        {"url": "ftp://x"},
        {"url": "http://x", "on_api_changes": "yes"},
        {"url": "http://x", "max_attempts": 9},
        {"url": "http://x", "retry_delays": [-1]},
        {"url": "http://x", "colour": "red"},
    ):
        assert (await control.post("/_sandbox/webhooks", json=bad)).status_code == 400, bad
    await subscribe(control, "http://127.0.0.1:9/hook")
    assert (await control.get("/_sandbox/webhooks")).json()["webhook"]["url"].endswith("/hook")
    assert (await control.delete("/_sandbox/webhooks")).status_code == 200
    assert (await control.get("/_sandbox/webhooks")).json()["webhook"] is None
