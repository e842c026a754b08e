"""The team's mapping onto every property type, and Notion's size limits, against the sandbox."""

from __future__ import annotations

import json

import pytest
from notion_jobs import (
    FILE_URL,
    add_job,
    configure_team,
    harness,
    summary_generated,
    texts,
    thread_resolved,
)

from figsync_contracts import TaskCreated

pytestmark = pytest.mark.integration

EVERY_TYPE = {
    "Task": {"title": {}},
    "Notes": {"rich_text": {}},
    "Urgency": {"select": {"options": [{"name": "low"}, {"name": "high"}]}},
    "Tags": {"multi_select": {"options": []}},
    "Progress": {"status": {"options": [{"name": "Not started"}, {"name": "Done"}]}},
    "Link": {"url": {}},
    "Commented": {"date": {}},
    "Kind": {"status": {"options": [{"name": "review"}, {"name": "design"}]}},
}
TEAM_MAPPING = {
    "Task": "title",
    "Notes": "summary",
    "Urgency": "priority",
    "Tags": "action_items",
    "Progress": "status",
    "Link": "figma_thread_url",
    "Commented": "created_at",
    "Kind": "category",
}


@pytest.fixture
def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    return sandbox_api


def add_database(notion, title: str, properties: dict) -> tuple[str, str]:
    db = notion.notion.add_database(title, properties)
    return db.id, db.data_source_ids[0]


async def test_the_team_mapping_fills_every_property_type(event_store, notion):
    database_id, source_id = add_database(notion, "Design tasks", EVERY_TYPE)
    teams = await configure_team(event_store, notion, database_id=database_id, mapping=TEAM_MAPPING)
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-types")

    assert await h.deliver(summary) == ["Ack"]

    [page] = notion.notion.created_pages(source_id)
    assert page.plain() == {
        "Task": "Review the onboarding copy",
        "Notes": "Maarten asks Anna to review the onboarding copy; she will tomorrow.",
        "Urgency": "high",
        "Tags": ["Review the onboarding copy", "Reply in the thread"],
        "Progress": "Not started",
        "Link": f"{FILE_URL}#1000000001",
        "Commented": {"start": "2026-03-02T09:00:00+00:00", "end": None, "time_zone": None},
        "Kind": "review",
        "Figsync ID": "job-types",
    }
    # The seed's defaults have no property here, so they are left out rather than failing.
    assert isinstance(await h.outcome("job-types"), TaskCreated)


async def test_a_url_in_a_text_property_is_a_link_and_a_comma_never_reaches_a_select(
    event_store, notion
):
    database_id, source_id = add_database(
        notion, "Links", {"Name": {"title": {}}, "Where": {"rich_text": {}}, "File": {"select": {}}}
    )
    teams = await configure_team(
        event_store,
        notion,
        database_id=database_id,
        mapping={"Where": "figma_file_url", "File": "file_name"},
    )
    h = harness(event_store, teams, notion)
    thread = thread_resolved()
    thread = thread.model_copy(update={"file_name": "Onboarding, v2"})
    await h.deliver(await add_job(event_store, "job-links", thread=thread))
    [page] = notion.notion.created_pages(source_id)
    assert page.properties["Where"]["rich_text"][0]["href"] == FILE_URL
    assert page.plain()["File"] == "Onboarding  v2"
    # Without a "Title" property, the task's title goes to the database's own title property.
    assert page.plain()["Name"] == "Review the onboarding copy"


async def test_text_is_chunked_at_2000_characters_and_arrays_at_100_elements(event_store, notion):
    database_id, source_id = add_database(
        notion,
        "Limits",
        {"Name": {"title": {}}, "Summary": {"rich_text": {}}, "Items": {"multi_select": {}}},
    )
    teams = await configure_team(
        event_store,
        notion,
        database_id=database_id,
        mapping={"Summary": "summary", "Items": "action_items"},
    )
    h = harness(event_store, teams, notion)
    long_summary = "".join(f"{i:05d} " for i in range(40_000))  # 240,000 characters
    items = [f"item {i}" for i in range(130)]
    emoji_comment = "🎨" * 1500  # 3,000 UTF-16 units: Notion counts those
    summary = summary_generated(summary=long_summary, action_items=items)
    thread = thread_resolved([("Maarten", "@Anna Smith look"), ("Anna Smith", emoji_comment)])
    assert await h.deliver(
        await add_job(event_store, "job-big", summary=summary, thread=thread)
    ) == ["Ack"]

    [page] = notion.notion.created_pages(source_id)
    summary_items = page.properties["Summary"]["rich_text"]
    assert len(summary_items) == 100
    assert all(len(i["plain_text"]) <= 2000 for i in summary_items)
    assert [len(i["plain_text"]) for i in summary_items[:2]] == [2000, 2000]
    assert page.plain()["Summary"] == long_summary[: 100 * 2000 - 1] + "…"
    assert page.plain()["Items"] == items[:100]
    # The body keeps all 130 to-dos: 100 children with the page, the rest appended.
    body = texts(page)
    assert body[1:131] == items
    create = notion.notion.requests("POST", "/v1/pages")[0]
    appends = notion.notion.requests("PATCH", f"/v1/blocks/{page.id}/children")
    assert len(create.body["children"]) == 100
    assert [len(a.body["children"]) for a in appends] == [len(page.children) - 100]
    emoji_block = next(b for b in page.children if "🎨" in json.dumps(b, ensure_ascii=False))
    parts = [i["plain_text"] for i in emoji_block["paragraph"]["rich_text"]]
    assert parts == ["Anna Smith: ", "🎨" * 1000, "🎨" * 500]


async def test_a_thread_over_500_kb_is_sent_in_requests_under_500_kb(event_store, notion):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    comments = [("Maarten", "@Anna Smith see below")]
    comments += [("Anna Smith", f"{i:03d}" + "é" * 15_000) for i in range(40)]  # ~1.2 MB
    summary = await add_job(event_store, "job-heavy", thread=thread_resolved(comments))

    assert await h.deliver(summary) == ["Ack"]

    [page] = notion.notion.created_pages()
    writes = notion.notion.requests("POST", "/v1/pages") + notion.notion.requests(
        "PATCH", f"/v1/blocks/{page.id}/children"
    )
    sizes = [
        len(json.dumps(r.body, ensure_ascii=False, separators=(",", ":")).encode()) for r in writes
    ]
    assert len(writes) >= 3 and all(s <= 500_000 for s in sizes), sizes
    assert all(r.status == 200 for r in writes)
    body = texts(page)
    for i in range(40):
        assert f"Anna Smith: {i:03d}" + "é" * 15_000 in body


async def test_a_page_body_of_over_1000_blocks_goes_in_batches_of_100(event_store, notion):
    teams = await configure_team(event_store, notion)
    h = harness(event_store, teams, notion)
    comments = [("Maarten", "@Anna Smith ok?")] + [("Anna Smith", f"ok {i}") for i in range(1050)]
    summary = await add_job(event_store, "job-long", thread=thread_resolved(comments))
    assert await h.deliver(summary) == ["Ack"]
    [page] = notion.notion.created_pages()
    assert len(page.children) == 1 + 2 + 1 + 1051 + 1  # heading, to-dos, heading, comments, link
    appends = notion.notion.requests("PATCH", f"/v1/blocks/{page.id}/children")
    assert [len(a.body["children"]) for a in appends] == [100] * 9 + [56]
    assert texts(page)[-2] == "Anna Smith: ok 1049"
