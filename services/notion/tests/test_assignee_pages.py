"""The notion step assigns the task against the Notion sandbox: the people property set from the
team's map or a match, the decision on TaskCreated, the users list read page by page and shared
through Postgres, and a users API that refuses or fails."""

from __future__ import annotations

import pytest
from notion_jobs import add_job, configure_team, harness, thread_resolved

from figsync_notion.bootstrap import notion_api
from figsync_notion.settings import NotionSettings
from figsync_sandbox import TASKS_DATABASE_ID

pytestmark = pytest.mark.integration

ASSIGNED = {"Title": {"title": {}}, "Summary": {"rich_text": {}}, "Assignee": {"people": {}}}


@pytest.fixture
def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    return sandbox_api


async def assigned_team(event_store, notion, **settings):
    db = notion.notion.add_database("Assigned tasks", ASSIGNED)
    teams = await configure_team(event_store, notion, database_id=db.id)
    await teams.change("default", settings, changed_by="test")
    return teams, db.data_source_ids[0]


def page_of(notion, data_source_id: str, job: str):
    return next(
        p for p in notion.notion.created_pages(data_source_id) if p.plain()["Figsync ID"] == job
    )


async def test_tasks_are_assigned_by_pair_and_by_match_and_say_so(event_store, notion):
    anna = notion.notion.add_user("Anna Smith", "anna@example.com")
    lead = notion.notion.add_user("Design Lead", "lead@example.com")
    teams, source = await assigned_team(
        event_store, notion, assignee_map=[{"figma": "@testfigma", "notion": "lead@example.com"}]
    )
    h = harness(event_store, teams, notion)
    cases = {
        "job-pair": (["@testfigma"], lead, "explicit"),
        "job-name": (["@Anna Smith"], anna, "name"),
        "job-email": (["@anna"], anna, "email"),
    }
    for job, (mentions, _, _) in cases.items():
        assert await h.deliver(await add_job(event_store, job,
                                             thread=thread_resolved(mentions=mentions))) == ["Ack"]  # fmt: skip
    for job, (_, user, method) in cases.items():
        created = await h.outcome(job)
        assert created.assignee.reason == "assigned", created.assignee
        assert (created.assignee.user_id, created.assignee.method) == (user, method)
        assert page_of(notion, source, job).plain()["Assignee"] == [user]


async def test_below_the_threshold_or_for_the_author_no_one_is_assigned(event_store, notion):
    notion.notion.add_user("Ann Lee", "ann.lee@example.com")
    teams, source = await assigned_team(event_store, notion, assignee_match_threshold=90)
    h = harness(event_store, teams, notion)
    low = thread_resolved(mentions=["@Ann"])
    own = thread_resolved([("Maarten", "@Maarten note to self")], mentions=["@Maarten"])
    for job, thread in (("job-low", low), ("job-own", own)):
        assert await h.deliver(await add_job(event_store, job, thread=thread)) == ["Ack"]
    low_created, own_created = await h.outcome("job-low"), await h.outcome("job-own")
    assert low_created.assignee.reason == "below_threshold"
    assert "best name match 'Ann Lee' scored" in low_created.assignee.note
    assert own_created.assignee.reason == "self_mention"
    for job in ("job-low", "job-own"):
        assert page_of(notion, source, job).plain()["Assignee"] == []


async def test_a_database_without_people_properties_is_not_asked_about_users(event_store, notion):
    teams = await configure_team(event_store, notion, database_id=TASKS_DATABASE_ID)
    h = harness(event_store, teams, notion)
    assert await h.deliver(await add_job(event_store, "job-plain")) == ["Ack"]
    assert (await h.outcome("job-plain")).assignee is None
    assert notion.notion.requests("GET", "/v1/users") == []


async def test_a_refused_users_list_still_makes_the_task_and_a_failing_one_is_retried(
    event_store, notion
):
    notion.notion.add_user("Anna Smith", "anna@example.com")
    teams, source = await assigned_team(event_store, notion)
    h = harness(event_store, teams, notion)
    notion.notion.faults.inject("GET /v1/users", status=403, times=1)
    assert await h.deliver(await add_job(event_store, "job-403")) == ["Ack"]
    refused = await h.outcome("job-403")
    assert refused.assignee.reason == "users_unavailable" and "403" in refused.assignee.note
    assert page_of(notion, source, "job-403").plain()["Assignee"] == []

    notion.notion.faults.inject("GET /v1/users", status=503, times=1)
    decisions = await h.deliver(await add_job(event_store, "job-503"))
    assert decisions[0] != "Ack" and decisions[-1] == "Ack"
    assert (await h.outcome("job-503")).assignee.reason == "assigned"


async def test_the_users_list_is_read_page_by_page_once_for_every_replica(event_store, notion):
    ids = [notion.notion.add_user(f"Person {i:03}", f"p{i}@example.com") for i in range(130)]
    config = NotionSettings(notion_api_url=notion.notion_url, notion_requests_per_second=50.0)
    replicas = [notion_api(config, event_store.pool) for _ in range(2)]
    try:
        first = await replicas[0].users(notion.notion_token)
        second = await replicas[1].users(notion.notion_token)
    finally:
        for api in replicas:
            await api.aclose()
    assert first == second and {p.id for p in first} >= set(ids)
    assert len(first) == 131  # the 130, the sandbox's own person, and no bot
    reads = notion.notion.requests("GET", "/v1/users")
    assert len(reads) == 2  # 100 + the rest, once for both replicas
