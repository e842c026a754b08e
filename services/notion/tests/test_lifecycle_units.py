"""The lifecycle's small decisions: which status means done, reading a page's status, and what
a refusal to change a task page tells the user."""

import pytest

from figsync_notion.lifecycle import done_values, page_refused, status_of
from figsync_notion.mapping import Schema
from figsync_notion.ports import NotionRefused
from figsync_runtime.teams import TeamSettings

pytestmark = pytest.mark.unit


def schema(status: dict) -> Schema:
    return Schema("ds", "db", "Tasks", {"Status": {"type": "status", "status": status}})


GROUPED = {
    "options": [{"id": "a", "name": "Not started"}, {"id": "b", "name": "Doing"},
                {"id": "c", "name": "Shipped"}, {"id": "d", "name": "Won't do"}],
    "groups": [{"name": "To-do", "option_ids": ["a"]}, {"name": "In progress", "option_ids": ["b"]},
               {"name": "Complete", "option_ids": ["c", "d"]}],
}  # fmt: skip


def test_done_is_the_complete_group_unless_the_team_says_otherwise():
    team = TeamSettings(team="t")
    assert done_values(schema(GROUPED), "Status", team) == ["Shipped", "Won't do"]
    assert done_values(
        schema(GROUPED), "Status", TeamSettings(team="t", notion_done_status="Doing")
    ) == ["Doing"]
    select = Schema("ds", "db", "T", {"Status": {"type": "select", "select": {
        "options": [{"id": "x", "name": "Open"}, {"id": "y", "name": "Done"}]}}})  # fmt: skip
    assert done_values(select, "Status", team) == ["Done"]


def test_a_pages_status_is_read_from_status_or_select_properties():
    page = {"properties": {"Status": {"type": "status", "status": {"name": "Shipped"}}}}
    assert status_of(page, "Status") == "Shipped"
    assert (
        status_of({"properties": {"Status": {"type": "select", "select": None}}}, "Status") is None
    )
    assert status_of({"properties": {}}, "Status") is None


def test_a_task_page_that_is_gone_says_so():
    gone = page_refused(NotionRefused(404, "object_not_found", "nope"), "acme", "p-1", "x")
    assert gone.code == "notion.task_page_gone" and "p-1" in gone.message
    assert page_refused(NotionRefused(401, "unauthorized", "bad"), "acme", "p", "x").code == (
        "notion.unauthorized"
    )
    assert page_refused(NotionRefused(403, "restricted_resource", "no"), "acme", "p", "x").code == (
        "notion.forbidden"
    )
