"""The notion step against the Notion sandbox: the page, its properties and body, exactly once."""

from __future__ import annotations

import asyncio

import notion_client
import pytest
from notion_jobs import FILE_URL, add_job, configure_team, harness, summary_generated, texts

from figsync_contracts import EffectIntended, TaskCreated, new_envelope
from figsync_sandbox import TASKS_DATA_SOURCE_ID, TASKS_DATABASE_ID

pytestmark = pytest.mark.integration


@pytest.fixture
def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    return sandbox_api


async def test_a_summary_becomes_one_page_with_the_seed_mapping_and_the_thread_as_body(
    event_store, notion
):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-seed")

    assert await h.deliver(summary) == ["Ack"]

    created = await h.outcome("job-seed")
    assert isinstance(created, TaskCreated) and not created.reused
    [page] = notion.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert created.page_id == page.id and created.data_source_id == TASKS_DATA_SOURCE_ID
    assert created.url.startswith("https://app.notion.com/p/Review-the-onboarding-copy-")
    assert page.plain() == {
        "Title": "Review the onboarding copy",
        "Summary": "Maarten asks Anna to review the onboarding copy; she will tomorrow.",
        "Figma File": FILE_URL,
        "Figma Thread": f"{FILE_URL}#1000000001",
        "Priority": "high",
        "Category": "review",
        "Action Items": "• Review the onboarding copy\n• Reply in the thread",
        "Status": "Not started",
        "Created From": "Figma comment by Maarten in Onboarding Flow",
        "Mentioned User": "@Anna Smith",
        "Figsync ID": "job-seed",
    }
    assert texts(page) == [
        "Action items",
        "Review the onboarding copy",
        "Reply in the thread",
        "Thread in Onboarding Flow",
        "Maarten: @Anna Smith can you review the onboarding copy?",
        "Anna Smith: Sure, I'll look at it tomorrow.",
        "Open the thread in Figma",
    ]
    assert [b["type"] for b in page.children][:2] == ["heading_2", "to_do"]
    # The sync-id property was added to the data source once, as a rich_text.
    [patch] = notion.notion.requests("PATCH", f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")
    assert patch.body == {"properties": {"Figsync ID": {"rich_text": {}}}}
    assert all(r.headers.get("notion-version") == "2025-09-03" for r in notion.notion.requests())

    # A redelivery of the same message is acknowledged without touching Notion again.
    before = len(notion.notion.requests())
    assert await h.deliver(summary) == ["Ack"]
    assert len(notion.notion.requests()) == before
    assert len(notion.notion.created_pages()) == 1


async def test_an_intent_without_a_result_reuses_the_page_and_completes_its_body(
    event_store, notion
):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-crashed")
    # An earlier attempt recorded its intent and Notion created the page (with its sync id, but
    # only the first block of the body); then that attempt died.
    intent = new_envelope(
        EffectIntended(step="notion", effect="notion.page", key="job-crashed"),
        stream_id="job-crashed", team="default", source="/services/notion", causation=summary,
    )  # fmt: skip
    await event_store.append("job-crashed", [intent], expected_version=2)
    client = notion_client.AsyncClient(auth=notion.notion_token, base_url=notion.notion_url)
    await client.data_sources.update(
        data_source_id=TASKS_DATA_SOURCE_ID, properties={"Figsync ID": {"rich_text": {}}}
    )
    earlier = await client.pages.create(
        parent={"data_source_id": TASKS_DATA_SOURCE_ID},
        properties={
            "Title": {"title": [{"text": {"content": "Review the onboarding copy"}}]},
            "Figsync ID": {"rich_text": [{"text": {"content": "job-crashed"}}]},
        },
        children=[{"heading_2": {"rich_text": [{"text": {"content": "Action items"}}]}}],
    )
    await client.aclose()

    assert await h.deliver(summary) == ["Ack"]

    created = await h.outcome("job-crashed")
    assert isinstance(created, TaskCreated)
    assert created.reused and created.page_id == earlier["id"]
    [page] = notion.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert texts(page)[0] == "Action items" and texts(page)[-1] == "Open the thread in Figma"
    assert len(page.children) == 7
    assert notion.notion.requests("POST", "/v1/pages")[-1].status == 200
    assert len(notion.notion.requests("POST", "/v1/pages")) == 1  # only the earlier one


async def test_an_overloaded_notion_is_tried_again_and_still_gives_one_page(event_store, notion):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-529")
    notion.notion.faults.inject("POST /v1/pages", status=529, times=2)

    assert await h.deliver(summary) == ["Redeliver", "Redeliver", "Ack"]

    created = await h.outcome("job-529")
    assert isinstance(created, TaskCreated) and not created.reused
    assert len(notion.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1
    assert [r.status for r in notion.notion.requests("POST", "/v1/pages")] == [529, 529, 200]
    # Each retry looked for the page of the recorded intent before creating it again.
    queries = notion.notion.requests("POST", f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query")
    assert len(queries) == 2
    assert queries[0].body["filter"] == {
        "property": "Figsync ID",
        "rich_text": {"equals": "job-529"},
    }
    assert (await h.types("job-529")).count("effect_intended") == 1


async def test_a_database_id_may_name_the_data_source_itself(event_store, notion):
    teams = await configure_team(event_store, notion, database_id=TASKS_DATA_SOURCE_ID)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-ds")
    assert await h.deliver(summary) == ["Ack"]
    assert isinstance(await h.outcome("job-ds"), TaskCreated)
    assert len(notion.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1


async def test_jobs_in_parallel_resolve_the_schema_once_and_each_get_their_page(
    event_store, notion
):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    jobs = [await add_job(event_store, f"job-p{i}") for i in range(5)]
    await asyncio.gather(*(h.deliver(j) for j in jobs))
    pages = notion.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert sorted(p.plain()["Figsync ID"] for p in pages) == [f"job-p{i}" for i in range(5)]
    assert len(notion.notion.requests("GET", f"/v1/databases/{TASKS_DATABASE_ID}")) == 1
    assert len(notion.notion.requests("PATCH", f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}")) == 1


async def test_a_title_longer_than_nothing_falls_back_to_the_file_name(event_store, notion):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-untitled", summary=summary_generated(title=" "))
    await h.deliver(summary)
    [page] = notion.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert page.title == "Figma comment in Onboarding Flow"
