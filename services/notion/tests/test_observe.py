"""A page's status seen in Notion (webhook or poll) goes to its own job only: two teams may
share a database, and a page naming another team's job is not this team's to report."""

from __future__ import annotations

import httpx
import pytest
from notion_jobs import add_job, configure_team, harness

from figsync_contracts import TaskCreated, TaskStatusChanged
from figsync_notion.lifecycle import Lifecycle, observe
from figsync_runtime.threads import ThreadRegistry

pytestmark = pytest.mark.integration


async def test_a_page_is_reported_to_its_own_teams_job_only(event_store, sandbox_api, pg_pool):
    teams = await configure_team(event_store, sandbox_api, team="acme")
    await configure_team(event_store, sandbox_api, team="other")  # the same database
    made = harness(event_store, teams, sandbox_api)
    summarised = await add_job(event_store, "job-acme", team="acme")
    assert (await made.deliver(summarised))[-1] == "Ack"
    created = await made.outcome("job-acme")
    assert isinstance(created, TaskCreated)
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url) as control:
        done = await control.post(f"/_sandbox/pages/{created.page_id}/status",
                                  json={"status": "Done"})  # fmt: skip
        assert done.status_code == 200, done.text
    page = await made.deps.api.page(sandbox_api.notion_token, created.page_id)
    life = Lifecycle(made.deps, ThreadRegistry(pg_pool))

    assert not await observe(life, event_store, "other", page, origin="notion_poll")
    assert TaskStatusChanged.type not in [e.type for e in await event_store.read_stream("job-acme")]
    assert await observe(life, event_store, "acme", page, origin="notion_poll")
    [changed] = [e for e in await event_store.read_stream("job-acme")
                 if e.type == TaskStatusChanged.type]  # fmt: skip
    assert (changed.data["status"], changed.data["done"]) == ("Done", True)
    assert not await observe(life, event_store, "acme", page, origin="notion_poll")  # once
