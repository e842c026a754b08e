"""The Notion check over HTTP (what the dashboard's Settings page runs)."""

from __future__ import annotations

import httpx
import pytest
from notion_jobs import configure_team

from figsync_notion.bootstrap import notion_api
from figsync_notion.check_http import check_app
from figsync_notion.settings import NotionSettings
from figsync_runtime.internal import NOTION_CHECK, internal_token
from figsync_runtime.secrets import DEVELOPMENT_KEY
from figsync_sandbox import BUGS_DATABASE_ID, TASKS_DATABASE_ID

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(sandbox_api, event_store):
    sandbox_api.notion.configure(burst=1000)
    teams = await configure_team(event_store, sandbox_api, team="acme")
    api = notion_api(NotionSettings(notion_api_url=sandbox_api.notion_url))
    app = check_app(teams, api, DEVELOPMENT_KEY, sync_property="Figsync ID",
                    add_sync_property=True)  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notion",
        headers={"X-Figsync-Internal": internal_token(DEVELOPMENT_KEY, NOTION_CHECK)},
    ) as http:  # fmt: skip
        yield http
    await api.aclose()


async def test_the_saved_database_passes_and_a_proposed_mapping_is_checked(client, sandbox_api):
    good = await client.post("/internal/notion/check", json={"team": "acme"})
    assert good.status_code == 200 and good.json()["ok"] is True, good.text
    assert "  ok     Title (title) ← title" in good.json()["lines"]
    bad = await client.post(
        "/internal/notion/check",
        json={"team": "acme", "database_id": TASKS_DATABASE_ID,
              "field_mapping": {"Title": "title", "Nope": "no_such_field"}},
    )  # fmt: skip
    report = bad.json()
    assert report["ok"] is False and report["errors"] >= 1
    assert any("notion.unknown_task_field" in line for line in report["lines"])
    assert {r.method for r in sandbox_api.notion.requests()} == {"GET"}


async def test_only_figsync_services_may_run_it_and_bad_requests_are_named(client):
    refused = await client.post(
        "/internal/notion/check", json={"team": "acme"}, headers={"X-Figsync-Internal": "x"}
    )
    assert refused.status_code == 403
    for body in [b"{", b"[]", b'{"team": "../x"}', b'{"team": "acme", "field_mapping": [1]}']:
        bad = await client.post("/internal/notion/check", content=body)
        assert bad.status_code == 422, body
    unknown = await client.post("/internal/notion/check", json={"team": "nobody"})
    assert unknown.json()["ok"] is False


async def test_proposed_targets_are_checked_each_and_hostile_ones_refused(client, sandbox_api):
    proposed = await client.post("/internal/notion/check", json={"team": "acme", "targets": [
        {"name": "Bugs", "database_id": BUGS_DATABASE_ID, "field_mapping": {"Name": "title"}}]})  # fmt: skip
    report = proposed.json()
    assert report["ok"] is True, report
    assert any(line.startswith('target Bugs: database "Bugs"') for line in report["lines"])
    assert "  ok     Name (title) ← title" in report["lines"]
    for targets in (
        [{"name": "Bugs", "database_id": "../v1/users"}],
        [{"name": "default", "database_id": BUGS_DATABASE_ID}],
        [{"name": f"T{i}", "database_id": f"{i:032x}"} for i in range(11)],
        "Bugs",
    ):
        refused = await client.post(
            "/internal/notion/check", json={"team": "acme", "targets": targets}
        )
        assert refused.status_code == 422, targets
        assert refused.json()["error"]["code"] == "request.invalid"
    assert {r.method for r in sandbox_api.notion.requests()} == {"GET"}
