"""The assignee settings: pairs edited on the Settings page as CSV (imported or typed), through the
API as JSON, hostile CSV refused naming its lines; and the job's timeline saying who was
assigned or why no one was."""

import json
from html import unescape

import pytest
from projector_histories import append, resolved, summary
from test_access import bearer, build, client, csrf_of

from figsync_contracts import Assignment, TaskCreated
from figsync_projector.auth import issue_token
from figsync_projector.projection import Projection
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import AssigneePair, TeamRepository

pytestmark = pytest.mark.integration

ANN = "0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a01"


async def acme(store) -> TeamRepository:
    repo = TeamRepository(store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await repo.change("acme", {"name": "Acme"})
    return repo


async def test_assignees_by_csv_on_the_settings_page(event_store):
    teams = await acme(event_store)
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        csrf = await csrf_of(http, admin.token, "/t/acme/settings")

        async def save(**fields):
            return await http.post("/t/acme/settings", data={"csrf": csrf, **fields})

        csv_text = f'Figma handle,Notion user\n@Anna Smith,{ANN.replace("-", "")}\n\n"Bob, Jr",BOB@Example.com\n'
        saved = await save(assignee_map=csv_text, assignee_match_threshold="80",
                           notion_assignee_property="Owner")  # fmt: skip
        assert saved.status_code == 200, saved.text
        settings = await teams.get("acme")
        assert settings.assignee_map == [
            AssigneePair(figma="@Anna Smith", notion=ANN),
            AssigneePair(figma="@Bob, Jr", notion="bob@example.com"),
        ]
        assert (settings.assignee_match_threshold, settings.notion_assignee_property) == (
            80,
            "Owner",
        )
        page = (await http.get("/t/acme/settings")).text
        assert f"@Anna Smith,{ANN}" in page and 'id="assignee-csv"' in page

        bad = await save(assignee_map=f"@Ann,{ANN}\nonly-one-column\n@Cy,not-a-user\n@D,{ANN},x\n")
        assert bad.status_code == 422
        for line in ("line 2: 1 columns", "line 3: 'not-a-user' is neither", "line 4: 3 columns"):
            assert line in unescape(bad.text), line
        too_big = await save(assignee_map=f"@Ann,{ANN}\n" * 1000)
        assert too_big.status_code == 422 and "at most 32768" in unescape(too_big.text)
        twice = await save(assignee_map=f"@Ann,{ANN}\nann,bob@example.com\n")
        assert twice.status_code == 422 and "mapped twice" in unescape(twice.text)
        for threshold in ("101", "-1", "high"):
            refused = await save(assignee_match_threshold=threshold)
            assert refused.status_code == 422, threshold
        off = await save(notion_assignee_property="-", assignee_map="")
        assert off.status_code == 200, off.text
    settings = await teams.get("acme")
    assert settings.notion_assignee_property == "" and settings.assignee_map == []
    assert settings.assignee_match_threshold == 80  # the refused changes left it


async def test_assignees_by_api(event_store):
    teams = await acme(event_store)
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        patched = await http.patch(
            "/api/teams/acme/settings", headers=bearer(admin.token),
            json={"assignee_map": [{"figma": "Anna", "notion": ANN}], "assignee_match_threshold": 95},
        )  # fmt: skip
        assert patched.status_code == 200, patched.text
        assert patched.json()["assignee_map"] == [{"figma": "@Anna", "notion": ANN}]
        for bad in ({"assignee_map": [{"figma": "@A", "notion": "x"}]},
                    {"assignee_map": [{"figma": "@A", "notion": ANN}] * 2 + [{"figma": "a", "notion": "b@c.de"}]},
                    {"assignee_match_threshold": 150}):  # fmt: skip
            refused = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                       json=bad)  # fmt: skip
            assert refused.status_code == 422, bad


async def test_the_timeline_says_who_was_assigned(event_store, pg_pool):
    job = "0b4f9e65-1111-4a0c-9d3e-00000000a551"
    note = "no assignee for @Ann: best name match 'Ann Lee' scored 60 < 90"
    decision = Assignment(reason="below_threshold", note=note, mention="@Ann", method="name",
                          confidence=60.0, user_name="Ann Lee")  # fmt: skip
    created = TaskCreated(page_id="p1", url="https://notion.so/p1", assignee=decision)
    await append(event_store, job, resolved(), summary(), created)
    projection = Projection(event_store)
    while await projection.apply_batch(100):
        pass
    detail = await pg_pool.fetchval(
        "SELECT detail FROM projections.job_events WHERE job_id = $1 AND type = 'TaskCreated'", job
    )
    assert json.loads(detail)["assignee"] == note
