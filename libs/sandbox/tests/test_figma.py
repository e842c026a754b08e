"""The Figma sandbox answers as the OpenAPI spec says, for success and for every error."""

from __future__ import annotations

import httpx
import pytest
from sandbox_shapes import validate_figma_response, validate_figma_schema

from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_REPLY_COMMENT_ID, DEFAULT_ROOT_COMMENT_ID

COMMENTS = "/v1/files/{file_key}/comments"


@pytest.fixture
async def figma(sandbox_api):
    async with httpx.AsyncClient(
        base_url=sandbox_api.figma_url, headers={"X-Figma-Token": sandbox_api.figma_token}
    ) as client:
        yield client


async def test_get_comments_returns_the_seeded_thread_per_spec(figma):
    resp = await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")
    validate_figma_response("get", COMMENTS, resp)
    comments = {c["id"]: c for c in resp.json()["comments"]}
    root, reply = comments[DEFAULT_ROOT_COMMENT_ID], comments[DEFAULT_REPLY_COMMENT_ID]
    assert root["message"].startswith("@Anna Smith can you review")
    assert root["order_id"] == "1" and root["parent_id"] == ""
    assert reply["parent_id"] == DEFAULT_ROOT_COMMENT_ID and reply["order_id"] is None


async def test_as_md_returns_the_markdown_variant(sandbox_api, figma):
    comment = sandbox_api.figma.add_comment(
        DEFAULT_FILE_KEY, "Ship it", message_md="**Ship** it", emit=False
    )
    plain = (await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")).json()["comments"]
    resp = await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments", params={"as_md": "true"})
    validate_figma_response("get", COMMENTS, resp)
    md = {c["id"]: c["message"] for c in resp.json()["comments"]}
    assert md[comment.id] == "**Ship** it"
    assert {c["id"]: c["message"] for c in plain}[comment.id] == "Ship it"


async def test_post_reply_to_root_comment_is_recorded(sandbox_api, figma):
    resp = await figma.post(
        f"/v1/files/{DEFAULT_FILE_KEY}/comments",
        json={
            "message": "Task created: https://notion.so/x",
            "comment_id": DEFAULT_ROOT_COMMENT_ID,
        },
    )
    validate_figma_response("post", COMMENTS, resp)
    body = resp.json()
    assert body["parent_id"] == DEFAULT_ROOT_COMMENT_ID
    assert body["user"]["handle"] == "figsync"
    posted = sandbox_api.figma.posted_comments()
    assert [c.id for c in posted] == [body["id"]]


async def test_post_top_level_comment_with_client_meta(figma):
    resp = await figma.post(
        f"/v1/files/{DEFAULT_FILE_KEY}/comments",
        json={"message": "New thread", "client_meta": {"x": 1, "y": 2}},
    )
    validate_figma_response("post", COMMENTS, resp)
    assert resp.json()["order_id"] == "2"


async def test_reply_to_a_reply_is_a_400_in_figmas_shape(figma):
    resp = await figma.post(
        f"/v1/files/{DEFAULT_FILE_KEY}/comments",
        json={"message": "nope", "comment_id": DEFAULT_REPLY_COMMENT_ID},
    )
    assert resp.status_code == 400
    validate_figma_response("post", COMMENTS, resp)
    assert "root comment" in resp.json()["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[1, 2]",
        b'{"message": 42}',
        b'{"message": ""}',
        b'{"message": "x", "comment_id": 7}',
        b'{"message": "x", "client_meta": {"x": "a"}}',
        b'{"message": "' + b"a" * 5001 + b'"}',
    ],
    ids=["malformed", "array", "wrong-type", "empty", "id-type", "client-meta", "oversized"],
)
async def test_bad_post_bodies_are_400(figma, content):
    resp = await figma.post(
        f"/v1/files/{DEFAULT_FILE_KEY}/comments",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400
    validate_figma_response("post", COMMENTS, resp)


async def test_unknown_file_and_unknown_parent_are_404(figma):
    resp = await figma.get("/v1/files/doesNotExist123/comments")
    assert resp.status_code == 404
    validate_figma_response("get", COMMENTS, resp)
    resp = await figma.post(
        f"/v1/files/{DEFAULT_FILE_KEY}/comments", json={"message": "x", "comment_id": "999"}
    )
    assert resp.status_code == 404
    validate_figma_response("post", COMMENTS, resp)


@pytest.mark.parametrize("headers", [{}, {"X-Figma-Token": "figd_wrong"}], ids=["none", "bad"])
async def test_bad_token_is_403(sandbox_api, headers):
    async with httpx.AsyncClient(base_url=sandbox_api.figma_url, headers=headers) as client:
        resp = await client.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")
        validate_figma_response("get", COMMENTS, resp)
        assert resp.status_code == 403
        me = await client.get("/v1/me")
        assert me.status_code == 403
        validate_figma_response("get", "/v1/me", me)


async def test_me_returns_the_token_owner(figma):
    resp = await figma.get("/v1/me")
    validate_figma_response("get", "/v1/me", resp)
    assert resp.json()["handle"] == "figsync"
    assert resp.json()["email"] == "figsync@example.com"


async def test_tier2_budget_per_token_answers_429_with_figma_headers(sandbox_api, figma):
    sandbox_api.figma.configure(tier2_per_minute=2)
    path = f"/v1/files/{DEFAULT_FILE_KEY}/comments"
    assert [(await figma.get(path)).status_code for _ in range(2)] == [200, 200]
    resp = await figma.get(path)
    assert resp.status_code == 429
    validate_figma_response("get", COMMENTS, resp)
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-Figma-Rate-Limit-Type"] == "high"
    # Another token has its own budget.
    sandbox_api.figma.add_token("figd_second", "Maarten")
    other = await figma.get(path, headers={"X-Figma-Token": "figd_second"})
    assert other.status_code == 200
    sandbox_api.figma.configure(tier2_per_minute=25)


@pytest.mark.parametrize("status", [429, 500])
async def test_injected_errors_follow_the_spec(sandbox_api, figma, status):
    sandbox_api.figma.faults.inject("GET /v1/files/*/comments", status=status, retry_after=7200)
    resp = await figma.get(f"/v1/files/{DEFAULT_FILE_KEY}/comments")
    assert resp.status_code == status
    validate_figma_response("get", COMMENTS, resp)
    assert resp.headers["Retry-After"] == "7200"


def test_webhook_payload_follows_the_spec_with_empty_strings_for_absent_fields(sandbox_api):
    payload = sandbox_api.figma.webhook_payload(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    validate_figma_schema(payload, "WebhookFileCommentPayload")
    assert payload["parent_id"] == "" and payload["resolved_at"] == ""
    assert payload["comment"][0] == {"mention": "1300000000000000003"}
    assert [m["handle"] for m in payload["mentions"]] == ["Anna Smith"]
    assert payload["passcode"] == "sandbox-passcode"
