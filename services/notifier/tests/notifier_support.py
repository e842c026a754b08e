"""Test support for the notifier: a fake Slack webhook server and a seeded job."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from figsync_contracts import (
    Envelope,
    Event,
    SummaryGenerated,
    TaskCreated,
    TaskPage,
    TaskSummary,
    ThreadResolved,
    comment_job_id,
    new_envelope,
)
from figsync_eventstore import Appended, PostgresEventStore
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID

TASK_URL = "https://www.notion.so/Review-onboarding-copy-0f3c2b1a9d8e4f6a8b7c6d5e4f3a2b1c"
TITLE = "Review onboarding copy"
FILE_URL = f"https://www.figma.com/design/{DEFAULT_FILE_KEY}/Onboarding-Flow"
WEBHOOK_PATH = "/services/T000/B000/XXXXXXXXXXXX"


class FakeSlack:
    """Slack's incoming webhook on a free local port: records posts; can answer 500 or hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        app = Starlette(routes=[Route("/services/{rest:path}", self._webhook, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1, access_log=False)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}{WEBHOOK_PATH}"

    @property
    def texts(self) -> list[str]:
        """Texts of the posts Slack accepted."""
        return [r["body"]["text"] for r in self.received if r["status"] == 200]

    def reset(self) -> None:
        self.mode = "ok"
        self.received.clear()

    async def _webhook(self, request: Request) -> PlainTextResponse:
        body = await request.json()
        mode = self.mode
        if mode == "hang":
            deadline = time.monotonic() + 30
            while self.mode == "hang" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        status = 500 if mode == "error" else 200
        self.received.append({"body": body, "status": status, "mode": mode})
        if status == 500:
            return PlainTextResponse("internal_error", status_code=500)
        return PlainTextResponse("ok")

    def __enter__(self) -> FakeSlack:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.mode = "ok"
        self._server.should_exit = True
        if self._thread:
            self._thread.join(5)
        self._sock.close()


def teams(store: PostgresEventStore) -> TeamRepository:
    return TeamRepository(store, SecretBox(DEVELOPMENT_KEY))


async def append(store: PostgresEventStore, job_id: str, event: Event, team: str = "default",
                 causation: Envelope | None = None) -> Envelope:  # fmt: skip
    envelope = new_envelope(event, stream_id=job_id, team=team, source="/tests",
                            causation=causation)  # fmt: skip
    outcome = await store.append(job_id, [envelope], expected_version=None)
    assert isinstance(outcome, Appended), outcome
    return envelope


async def seed_task_created(
    store: PostgresEventStore,
    *,
    team: str = "default",
    comment_id: str = DEFAULT_ROOT_COMMENT_ID,
    url: str = TASK_URL,
    others: int = 0,
) -> Envelope:
    """A job up to TaskCreated for the sandbox's default thread; returns the TaskCreated.
    `others`: how many more task pages the thread made (several pieces of work)."""
    job_id = comment_job_id(team, DEFAULT_FILE_KEY, comment_id)
    thread = await append(
        store,
        job_id,
        ThreadResolved(
            file_key=DEFAULT_FILE_KEY,
            file_name="Onboarding Flow",
            file_url=FILE_URL,
            comment_id=comment_id,
            root_comment_id=DEFAULT_ROOT_COMMENT_ID,
            author="Maarten",
            text="@Anna Smith can you review the onboarding copy?",
            mentions=["Anna Smith"],
            thread=[],
        ),  # fmt: skip
        team,
    )
    summary = await append(
        store,
        job_id,
        SummaryGenerated(
            title=TITLE,
            summary="Anna reviews the copy.",
            action_items=["Review copy"],
            priority="medium",
            category="review",
            model="claude",
            prompt_version="1",
            cost_usd=Decimal("0"),
            source="ai",
            tasks=[
                TaskSummary(
                    title=f"Task number {i}",
                    summary="More work.",
                    priority="low",
                    category="review",
                )
                for i in range(others + 1)
            ]
            if others
            else [],
        ),  # fmt: skip
        team,
        thread,
    )
    pages = [TaskPage(index=i, page_id=f"page-{i}", url=f"{url}-{i}") for i in range(1, others + 1)]
    task = TaskCreated(page_id="0f3c2b1a", url=url, pages=pages)
    return await append(store, job_id, task, team, summary)
