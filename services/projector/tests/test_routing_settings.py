"""Routing settings on the dashboard: targets and routes edited one per line on the Settings
page (hostile lines refused by number, a route to a missing target refused), and the job page
naming the target its task went to."""

from html import unescape

import pytest
from projector_histories import append, resolved, summary
from test_access import build, client, csrf_of

from figsync_contracts import TaskCreated
from figsync_projector.auth import issue_token
from figsync_projector.projection import Projection
from figsync_runtime.routing import NotionRoute
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

BUGS_DB = "5b0a7c1e-2d3f-4a6b-8c9d-0e1f2a3b4c5d"


async def test_targets_and_routes_on_the_settings_page(event_store):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme"})
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        csrf = await csrf_of(http, admin.token, "/t/acme/settings")

        async def save(**fields):
            return await http.post("/t/acme/settings", data={"csrf": csrf, **fields})

        saved = await save(
            notion_targets=f"Bugs | https://www.notion.so/x/{BUGS_DB.replace('-', '')}?v=2 | "
            "Name = title, Severity = priority\n\nReviews | 0123456789abcdef0123456789abcdef\n",
            notion_routes="Bugs | files: FILEbug https://www.figma.com/design/FILEtwo/X\n"
            "Reviews | categories: review | priorities: high, medium\n",
        )
        assert saved.status_code == 200, saved.text
        settings = await teams.get("acme")
        assert [(t.name, t.database_id, t.field_mapping) for t in settings.notion_targets] == [
            ("Bugs", BUGS_DB, {"Name": "title", "Severity": "priority"}),
            ("Reviews", "01234567-89ab-cdef-0123-456789abcdef", {}),
        ]
        assert settings.notion_routes == [
            NotionRoute(target="Bugs", file_keys=["FILEbug", "FILEtwo"]),
            NotionRoute(target="Reviews", categories=["review"], priorities=["high", "medium"]),
        ]
        page = unescape((await http.get("/t/acme/settings")).text)
        assert f"Bugs | {BUGS_DB} | Name = title, Severity = priority" in page
        assert "Reviews | categories: review | priorities: high medium" in page

        for fields, problem in (
            ({"notion_targets": "Bugs\n"}, "notion_targets: line 1"),
            ({"notion_targets": f"Bugs | {BUGS_DB} | Name title"}, "'Name title' is not"),
            ({"notion_targets": "Bugs | not-an-id"}, "is not a Notion database id"),
            ({"notion_targets": f"Bugs | {BUGS_DB}\nbugs | {'1' * 32}"}, "two targets are named"),
            ({"notion_targets": f"default | {BUGS_DB}"}, "is the team's own"),
            ({"notion_routes": "Bugs | colour: red"}, "notion_routes: line 1"),
            ({"notion_routes": "Bugs | categories: bug"}, "Input should be"),
            ({"notion_routes": "Bugs"}, "has no condition"),
            ({"notion_routes": "Nobody | priorities: low"}, "'Nobody', which is not a target"),
            # A route still sends tasks to Reviews: removing it alone is refused.
            ({"notion_targets": f"Bugs | {BUGS_DB}"}, "'Reviews', which is not a target"),
        ):
            refused = await save(**fields)
            assert refused.status_code == 422, fields
            assert problem in unescape(refused.text), (fields, problem)
    assert (await teams.get("acme")).notion_targets == settings.notion_targets


async def test_the_job_page_names_the_target(event_store):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme"})
    job = "0b4f9e65-1111-4a0c-9d3e-00000000b0b1"
    created = TaskCreated(page_id="p1", url="https://notion.so/p1", target="Bugs",
                          route="route 1 (file FILEKEY1)")  # fmt: skip
    await append(event_store, job, resolved(), summary(), created)
    projection = Projection(event_store)
    while await projection.apply_batch(100):
        pass
    member = await issue_token(event_store.pool, "acme", "member", name="ops")
    async with client(build(event_store, teams)) as http:
        await csrf_of(http, member.token, "/t/acme/settings")
        page = unescape((await http.get(f"/t/acme/jobs/{job}")).text)
    assert 'target <strong id="notion-target">Bugs</strong>' in page
    assert "(route 1 (file FILEKEY1))" in page
