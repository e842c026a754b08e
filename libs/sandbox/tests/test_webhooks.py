"""FILE_COMMENT webhooks: spec-shaped payloads, passcode, retried 3 times on failure."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sandbox_shapes import validate_figma_schema

from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID


class Receiver:
    """A webhook endpoint served in the test's loop that fails its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[dict] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.received.append(await request.json())
            status = 500 if len(self.received) <= self.failures else 200
            return JSONResponse({}, status_code=status)

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

    async def __aenter__(self):
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc):
        self.server.should_exit = True
        await self.task


@pytest.mark.parametrize(("failures", "attempts"), [(0, 1), (2, 3), (10, 4)])
async def test_delivery_retries_three_times(sandbox_api, failures, attempts):
    sandbox_api.figma.configure(webhook_retry_delays=(0.01,))
    async with Receiver(failures) as receiver:
        deliveries = await sandbox_api.figma.deliver_webhook(
            DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, url=receiver.url
        )
    assert len(deliveries) == attempts == len(receiver.received)
    assert [p["retries"] for p in receiver.received] == list(range(attempts))
    for payload in receiver.received:
        validate_figma_schema(payload, "WebhookFileCommentPayload")
        assert payload["passcode"] == "sandbox-passcode"


async def test_unreachable_endpoint_is_recorded_as_errors(sandbox_api):
    sandbox_api.figma.configure(webhook_retry_delays=(0.0,))
    deliveries = await sandbox_api.figma.deliver_webhook(
        DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, url="http://127.0.0.1:9/hook"
    )
    assert len(deliveries) == 4 and all(d.error for d in deliveries)


async def test_new_comments_emit_webhooks_when_configured(sandbox_api):
    async with Receiver(0) as receiver:
        sandbox_api.figma.configure(webhook_url=receiver.url, webhook_passcode="s3cret")
        comment = sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith new one")
        async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as client:
            resp = await client.post(
                f"/v1/files/{DEFAULT_FILE_KEY}/comments",
                json={"message": "reply", "comment_id": comment.id},
                headers={"X-Figma-Token": sandbox_api.figma_token},
            )
            assert resp.status_code == 200
        for _ in range(200):
            if len(receiver.received) >= 2:
                break
            await asyncio.sleep(0.01)
    sandbox_api.figma.configure(webhook_url="", webhook_passcode="sandbox-passcode")
    by_id = {p["comment_id"]: p for p in receiver.received}
    assert by_id[comment.id]["mentions"][0]["handle"] == "Anna Smith"
    assert by_id[resp.json()["id"]]["parent_id"] == comment.id
    assert all(p["passcode"] == "s3cret" for p in receiver.received)


async def test_emit_over_the_control_api(sandbox_api):
    async with Receiver(0) as receiver:
        async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as client:
            resp = await client.post(
                "/_sandbox/webhooks/emit",
                json={"comment_id": DEFAULT_ROOT_COMMENT_ID, "url": receiver.url},
            )
            assert resp.status_code == 200
            assert resp.json()["deliveries"][0]["status"] == 200
            bad = await client.post("/_sandbox/webhooks/emit", json={"comment_id": "nope"})
            assert bad.status_code == 400
