"""A thread with several pieces of work: one page per task, each exactly once — the service
SIGKILLed between two pages and redelivered still leaves one page per task, and one
TaskCreated lists them all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from notion_jobs import add_job, summary_generated
from test_crash import wait_for

from figsync_contracts import (
    FigmaThreadClosed,
    TaskCreated,
    TaskStatusChanged,
    TaskSummary,
    new_envelope,
)
from figsync_sandbox import TASKS_DATA_SOURCE_ID, TASKS_DATABASE_ID

pytestmark = pytest.mark.e2e

PARTS = [
    TaskSummary(title="Tighten the header spacing", summary="The header needs 8px less.",
                action_items=["Reduce the header padding"], priority="medium", category="design"),
    TaskSummary(title="Fix the signup button colour", summary="It should use brand teal.",
                action_items=["Use the brand teal"], priority="high", category="development"),
    TaskSummary(title="Review the onboarding copy", summary="Legal wants a second look.",
                action_items=[], priority="low", category="review"),
]  # fmt: skip


async def test_three_tasks_make_three_pages_once_across_a_kill_between_pages(
    event_store, sandbox_api, spawn, tmp_path
):
    sandbox_api.notion.configure(burst=1000)
    env = {
        "FIGSYNC_NOTION_API_URL": sandbox_api.notion_url,
        "NOTION_API_KEY": sandbox_api.notion_token,
        "NOTION_DATABASE_ID": TASKS_DATABASE_ID,
        "FIGSYNC_ACK_WAIT_SECONDS": "2",
        "FIGSYNC_STEP_LEASE_SECONDS": "5",
    }
    marker = tmp_path / "second-page-created"
    spawn("figsync_runtime.relay_main")
    crashing = spawn(
        "figsync_notion.main",
        FIGSYNC_TESTKIT_NOTION_HANG_AFTER_CREATE=str(marker),
        FIGSYNC_TESTKIT_NOTION_HANG_AFTER_CREATE_COUNT="2",
        **env,
    )
    first = PARTS[0]
    summary = summary_generated(title=first.title, summary=first.summary,
                                action_items=first.action_items, priority=first.priority,
                                category=first.category, tasks=PARTS)  # fmt: skip
    await add_job(event_store, "job-three", summary=summary)

    async def frozen():
        return marker.exists()

    await wait_for(frozen)
    assert len(sandbox_api.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 2
    crashing.kill()  # two pages exist, the third does not, nothing recorded but the intents

    spawn("figsync_notion.main", **env)

    async def task_created():
        stream = await event_store.read_stream("job-three")
        return [e for e in stream if e.type == TaskCreated.type]

    [recorded] = await wait_for(task_created)
    created = TaskCreated.model_validate(recorded.data)
    pages = sandbox_api.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert len(pages) == 3 and len(sandbox_api.notion.requests("POST", "/v1/pages")) == 3
    by_sync = {p.plain()["Figsync ID"]: p for p in pages}
    assert sorted(by_sync) == ["job-three", "job-three#2", "job-three#3"]
    assert [by_sync[s].plain()["Title"] for s in ("job-three", "job-three#2", "job-three#3")] == [
        p.title for p in PARTS
    ]
    assert created.page_id == by_sync["job-three"].id and created.reused
    assert [(p.index, p.page_id) for p in created.pages] == [
        (1, by_sync["job-three#2"].id),
        (2, by_sync["job-three#3"].id),
    ]
    assert by_sync["job-three#2"].plain()["Priority"] == "high"


async def test_a_thread_resolved_in_figma_sets_every_task_page_done(
    event_store, sandbox_api, spawn
):
    sandbox_api.notion.configure(burst=1000)
    spawn("figsync_runtime.relay_main")
    spawn(
        "figsync_notion.main",
        FIGSYNC_NOTION_API_URL=sandbox_api.notion_url,
        NOTION_API_KEY=sandbox_api.notion_token,
        NOTION_DATABASE_ID=TASKS_DATABASE_ID,
    )
    first = PARTS[0]
    summary = summary_generated(title=first.title, summary=first.summary,
                                action_items=first.action_items, priority=first.priority,
                                category=first.category, tasks=PARTS)  # fmt: skip
    await add_job(event_store, "job-closed", summary=summary)

    async def stream_has(kind):
        stream = await event_store.read_stream("job-closed")
        return [e for e in stream if e.type == kind.type]

    await wait_for(lambda: stream_has(TaskCreated))
    closed = new_envelope(
        FigmaThreadClosed(root_comment_id="c1", resolved_at=datetime.now(UTC)),
        stream_id="job-closed", team="default", source="/services/figma",
    )  # fmt: skip
    await event_store.append("job-closed", [closed], expected_version=None)
    [changed] = await wait_for(lambda: stream_has(TaskStatusChanged))
    assert changed.data["done"] and changed.data["origin"] == "figsync"
    pages = sandbox_api.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert len(pages) == 3
    assert {sandbox_api.notion.page(p.id).plain()["Status"] for p in pages} == {
        changed.data["status"]
    }
