"""Errors a user can act on: each ends the job at once with JobFailed, a stable code and a message
that says what to do — and no page."""

from __future__ import annotations

import pytest
from notion_jobs import add_job, configure_team, harness

from figsync_contracts import JobFailed
from figsync_sandbox import PRIVATE_DATABASE_ID

pytestmark = pytest.mark.integration


@pytest.fixture
def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    return sandbox_api


async def failure(event_store, notion, job: str, **team) -> JobFailed:
    teams = await configure_team(event_store, notion, **team)
    h = harness(event_store, teams, notion)
    assert await h.deliver(await add_job(event_store, job)) == ["Ack"]
    failed = await h.outcome(job)
    assert isinstance(failed, JobFailed), failed
    assert failed.step == "notion" and failed.attempts == 1 and not failed.retryable
    assert notion.notion.created_pages() == []
    return failed


async def test_a_database_not_shared_with_the_integration(event_store, notion):
    failed = await failure(event_store, notion, "job-private", database_id=PRIVATE_DATABASE_ID)
    assert failed.code == "notion.database_not_shared"
    assert failed.message.startswith(f'share the database "{PRIVATE_DATABASE_ID}" with the ')
    assert 'integration "figsync"' in failed.message


async def test_a_database_unshared_after_use_is_named_by_its_title(event_store, notion):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion, notion_schema_ttl_seconds=0)
    await h.deliver(await add_job(event_store, "job-shared"))
    notion.notion.share(notion.notion.created_pages()[0].parent["database_id"], False)
    await h.deliver(await add_job(event_store, "job-unshared"))
    failed = await h.outcome("job-unshared")
    assert failed.code == "notion.database_not_shared"
    assert failed.message.startswith('share the database "Tasks" with the integration "figsync"')


async def test_a_mapped_property_that_is_missing(event_store, notion):
    failed = await failure(event_store, notion, "job-missing", mapping={"Owner": "author"})
    assert failed.code == "notion.property_missing"
    assert failed.message == (
        'the database "Tasks" has no property "Owner" (mapped to author); add it in Notion or '
        "change the team's notion_field_mapping"
    )
    assert failed.context == {"property": "Owner", "field": "author", "database": "Tasks"}


async def test_a_mapped_property_of_the_wrong_type(event_store, notion):
    failed = await failure(event_store, notion, "job-type", mapping={"Figma File": "summary"})
    assert failed.code == "notion.property_wrong_type"
    assert failed.message.startswith(
        '"Figma File" in the database "Tasks" is a url property, which cannot hold summary; '
        "make it one of multi_select, rich_text, select, status, title"
    )
    assert failed.context["type"] == "url"


async def test_a_sync_id_property_of_the_wrong_type(event_store, notion):
    notion.notion.add_database(
        "Tasks 2", {"Name": {"title": {}}, "Figsync ID": {"number": {}}}, database_id=None
    )
    [db] = [d for d in notion.notion.databases.values() if d.title == "Tasks 2"]
    failed = await failure(event_store, notion, "job-sync", database_id=db.id)
    assert failed.code == "notion.property_wrong_type"
    assert '"Figsync ID" in the database "Tasks 2" is a number property' in failed.message


async def test_a_select_option_notion_will_not_create(event_store, notion):
    notion.notion.configure(create_select_options=False)
    failed = await failure(event_store, notion, "job-option", mapping={"Category": "file_name"})
    assert failed.code == "notion.select_option_missing"
    assert failed.message.startswith(
        'the property "Category" of the database "Tasks" has no option "Onboarding Flow"'
    )
    assert failed.context["option"] == "Onboarding Flow"


async def test_a_status_option_that_does_not_exist_is_caught_before_any_write(event_store, notion):
    failed = await failure(event_store, notion, "job-status", mapping={"Status": "priority"})
    assert failed.code == "notion.select_option_missing"
    assert failed.message == (
        'the status property "Status" of the database "Tasks" has no option "high" (options: '
        "Not started, In progress, Done); add it in Notion (the API cannot create status "
        "options) or map another field"
    )
    assert notion.notion.requests("POST", "/v1/pages") == []


async def test_a_token_notion_refuses(event_store, notion):
    failed = await failure(event_store, notion, "job-token", token="ntn_not_a_real_token")
    assert failed.code == "notion.unauthorized"
    assert "set a valid notion_token" in failed.message
    assert "ntn_not_a_real_token" not in failed.message
