"""The service as a process, SIGKILLed right after Notion created the page: one page, ever."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from notion_jobs import add_job

from figsync_contracts import TaskCreated
from figsync_sandbox import TASKS_DATA_SOURCE_ID, TASKS_DATABASE_ID

pytestmark = pytest.mark.e2e


async def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not met in time")


async def test_killed_right_after_the_page_was_created_then_redelivered_gives_one_page(
    event_store, sandbox_api, spawn, tmp_path
):
    sandbox_api.notion.configure(burst=1000)
    env = {
        "FIGSYNC_NOTION_API_URL": sandbox_api.notion_url,
        "NOTION_API_KEY": sandbox_api.notion_token,
        "NOTION_DATABASE_ID": TASKS_DATABASE_ID,
        "FIGSYNC_ACK_WAIT_SECONDS": "2",
        "FIGSYNC_STEP_LEASE_SECONDS": "5",  # the killed holder's lease frees in seconds
    }
    marker = tmp_path / "page-created"
    spawn("figsync_runtime.relay_main")
    crashing = spawn(
        "figsync_notion.main", FIGSYNC_TESTKIT_NOTION_HANG_AFTER_CREATE=str(marker), **env
    )
    await add_job(event_store, "job-sigkill")

    async def created():
        return marker.exists()

    await wait_for(created)
    [page] = sandbox_api.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert page.plain()["Figsync ID"] == "job-sigkill"
    types = [e.type for e in await event_store.read_stream("job-sigkill")]
    assert types[-1].startswith("figsync.effect_intended")
    crashing.kill()  # Notion answered, TaskCreated not yet recorded, message not acked

    restarted = spawn("figsync_notion.main", **env)

    async def task_created():
        stream = await event_store.read_stream("job-sigkill")
        return [e for e in stream if e.type == TaskCreated.type]

    [recorded] = await wait_for(task_created)
    created = TaskCreated.model_validate(recorded.data)
    assert created.reused and created.page_id == page.id
    assert len(sandbox_api.notion.created_pages()) == 1
    assert len(sandbox_api.notion.requests("POST", "/v1/pages")) == 1
    await asyncio.sleep(2.5)  # another ack-wait: nothing more happens
    assert len(sandbox_api.notion.created_pages()) == 1
    assert len(await task_created()) == 1
    assert "task page ready" in restarted.logs()


def test_the_hang_hook_is_off_unless_set():
    assert "FIGSYNC_TESTKIT_NOTION_HANG_AFTER_CREATE" not in os.environ
