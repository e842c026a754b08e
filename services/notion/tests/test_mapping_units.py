"""The pure mapping: people, nested blocks and byte budgets, text chunking (no I/O)."""

from __future__ import annotations

import pytest
from notion_jobs import summary_generated, thread_resolved

from figsync_notion import mapping
from figsync_notion.mapping import Person, Schema, Task

pytestmark = pytest.mark.unit

SCHEMA = Schema(
    data_source_id="ds",
    database_id="db",
    title="Tasks",
    properties={
        "Name": {"type": "title"},
        "Assignee": {"type": "people"},
        "Reporter": {"type": "people"},
        "Summary": {"type": "people"},
    },
)
DIRECTORY = [
    Person("u-anna", "Anna Smith", "anna@example.com"),
    Person("u-maarten", "Maarten", "maarten@example.com"),
    Person("u-bot", "figsync", ""),
]


def task(**thread) -> Task:
    return Task("job-1", thread_resolved(**thread), summary_generated())


def test_people_are_found_by_name_or_email_and_unknown_handles_are_left_out():
    bindings, problems, _ = mapping.plan(
        SCHEMA, {"Assignee": "mentions", "Reporter": "author", "Summary": ""}
    )
    assert problems == []
    props = mapping.build_properties(
        bindings, task(mentions=["@Anna Smith", "@maarten", "@nobody"]), "Figsync ID", DIRECTORY
    )
    assert props["Assignee"] == {
        "people": [{"object": "user", "id": "u-anna"}, {"object": "user", "id": "u-maarten"}]
    }
    assert props["Reporter"] == {"people": [{"object": "user", "id": "u-maarten"}]}
    assert props["Name"]["title"][0]["text"]["content"] == "Review the onboarding copy"
    assert props["Figsync ID"] == {"rich_text": [{"type": "text", "text": {"content": "job-1"}}]}


def test_only_people_fields_may_fill_a_people_property():
    _, problems, _ = mapping.plan(SCHEMA, {"Assignee": "summary", "Summary": ""})
    assert [p.code for p in problems] == ["notion.property_wrong_type"]
    # The seed's "Summary" default meets a people property here: also refused, not guessed.
    _, problems, _ = mapping.plan(SCHEMA, {})
    assert [p.context["property"] for p in problems] == ["Summary"]


def test_an_unknown_task_field_is_named():
    _, problems, _ = mapping.plan(SCHEMA, {"Assignee": "owner", "Summary": ""})
    assert problems[0].code == "notion.unknown_task_field"
    assert "tasks have no such field" in problems[0].message


def test_text_chunks_count_utf16_units_and_never_split_a_character():
    assert [len(c) for c in mapping.chunk_text("a" * 4001)] == [2000, 2000, 1]
    chunks = mapping.chunk_text("a" + "🎨" * 1000)
    assert [mapping.utf16_len(c) for c in chunks] == [1999, 2]
    assert "".join(chunks) == "a" + "🎨" * 1000
    assert mapping.rich_text("") == []
    cut = mapping.rich_text("x" * 250_000)
    assert len(cut) == 100 and cut[-1]["text"]["content"].endswith("…")


def nested(children: int) -> dict:
    kids = [{"type": "paragraph", "paragraph": {"rich_text": []}} for _ in range(children)]
    return {"type": "toggle", "toggle": {"rich_text": [], "children": kids}}


def test_batches_keep_to_100_children_and_1000_blocks_with_nested_ones():
    blocks = [nested(99) for _ in range(25)]  # 100 blocks each
    sizes = [len(b) for b in mapping.batches(blocks)]
    assert sizes == [10, 10, 5]  # 1,000 blocks per request
    flat = [{"type": "paragraph", "paragraph": {"rich_text": []}} for _ in range(250)]
    assert [len(b) for b in mapping.batches(flat)] == [100, 100, 50]


def test_batches_keep_to_the_byte_budget_and_the_first_one_leaves_room_for_properties():
    block = {"type": "paragraph", "paragraph": {"rich_text": mapping.rich_text("é" * 20_000)}}
    size = mapping.size_of(block)
    out = mapping.batches([block] * 10, first_budget=size + 100, budget=3 * size + 100)
    assert [len(b) for b in out] == [1, 3, 3, 3]
    out = mapping.batches([block] * 2, first_budget=10, budget=3 * size)
    assert [len(b) for b in out] == [0, 2]


def test_properties_too_big_for_one_request_are_shortened():
    schema = Schema("ds", "db", "T", {"Name": {"type": "title"}, "A": {"type": "rich_text"},
                                       "B": {"type": "rich_text"}})  # fmt: skip
    big = summary_generated(summary="ü" * 200_000)
    bindings, _, _ = mapping.plan(schema, {"A": "summary", "B": "summary"})
    props = mapping.build_properties(bindings, Task("j", thread_resolved(), big), "Figsync ID")
    assert mapping.size_of(props) <= mapping.MAX_REQUEST_BYTES // 2
    assert len(props["A"]["rich_text"]) >= 1 and len(props["B"]["rich_text"]) >= 1
