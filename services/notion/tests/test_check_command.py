"""`figsync notion check`, through the real command line, against the sandbox."""

from __future__ import annotations

import asyncio

import pytest
from notion_jobs import configure_team

from figsync_cli.main import main as figsync
from figsync_sandbox import (
    BUGS_DATA_SOURCE_ID,
    BUGS_DATABASE_ID,
    PRIVATE_DATABASE_ID,
    TASKS_DATABASE_ID,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def notion(sandbox_api, database_url, monkeypatch):
    sandbox_api.notion.configure(burst=1000)
    monkeypatch.setenv("FIGSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("FIGSYNC_NOTION_API_URL", sandbox_api.notion_url)
    monkeypatch.delenv("NOTION_API_KEY", raising=False)
    monkeypatch.delenv("NOTION_DATABASE_ID", raising=False)
    return sandbox_api


async def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(figsync, ["notion", "check", *args])
    return exited.value.code, capsys.readouterr().out


async def test_a_good_database_passes_and_nothing_is_changed(event_store, notion, capsys):
    await configure_team(event_store, notion)
    code, out = await run(capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == (
        'team default: database "Tasks" (data source b71e1213-3d03-46cb-b9c2-db9856a9f42d), '
        'integration "figsync"'
    )
    assert '  note   "Figsync ID" is missing; figsync adds it (Text) with the first task' in lines
    assert "  ok     Title (title) ← title" in lines
    assert "  ok     Priority (select) ← priority" in lines
    assert "  ok     Status (status) ← status" in lines
    assert lines[-1] == "result: ok"
    assert {r.method for r in notion.notion.requests()} == {"GET"}


async def test_a_broken_database_names_each_problem(event_store, notion, capsys):
    db = notion.notion.add_database(
        "Broken",
        {
            "Title": {"title": {}},
            "Summary": {"number": {}},
            "Status": {"status": {"options": [{"name": "Open"}]}},
            "Figsync ID": {"checkbox": {}},
        },
    )
    await configure_team(
        event_store,
        notion,
        team="acme",
        database_id=db.id,
        mapping={"Owner": "author", "Status": "priority"},
    )
    code, out = await run(capsys, "--team", "acme")
    assert code == 1, out
    errors = [line.split(":")[0].strip() for line in out.splitlines() if "error" in line]
    assert errors == [
        "error  notion.property_wrong_type",  # Figsync ID is a checkbox
        "error  notion.select_option_missing",  # Status has no low/medium/high
        "error  notion.property_wrong_type",  # Summary is a number
        "error  notion.property_missing",  # Owner
    ]
    assert 'the database "Broken" has no property "Owner" (mapped to author)' in out
    assert out.splitlines()[-1] == "result: 4 problem(s): tasks will fail"


async def test_a_database_not_shared_fails_the_check(event_store, notion, capsys):
    await configure_team(event_store, notion, database_id=PRIVATE_DATABASE_ID)
    code, out = await run(capsys)
    assert code == 1
    assert (
        f'notion.database_not_shared: share the database "{PRIVATE_DATABASE_ID}" with the integration "figsync"'
        in out
    )


async def test_the_default_team_can_be_checked_from_the_environment_alone(
    notion, capsys, monkeypatch
):
    monkeypatch.setenv("NOTION_API_KEY", notion.notion_token)
    monkeypatch.setenv("NOTION_DATABASE_ID", TASKS_DATABASE_ID)
    code, out = await run(capsys)
    assert code == 0, out
    monkeypatch.setenv("NOTION_API_KEY", "ntn_wrong")
    code, out = await run(capsys)
    assert code == 1 and "notion.unauthorized" in out


async def test_every_target_is_checked_and_a_broken_one_fails_the_check(
    event_store, notion, capsys
):
    teams = await configure_team(event_store, notion)
    await teams.change("default", {"notion_targets": [
        {"name": "Bugs", "database_id": BUGS_DATABASE_ID,
         "field_mapping": {"Name": "title", "Severity": "priority", "Nope": "summary"}},
        {"name": "Roadmap", "database_id": PRIVATE_DATABASE_ID},
    ]}, changed_by="test")  # fmt: skip
    code, out = await run(capsys)
    lines = out.splitlines()
    assert code == 1, out
    assert lines[0].startswith('team default: database "Tasks"')
    bugs = lines.index(next(line for line in lines if line.startswith("target Bugs:")))
    assert lines[bugs].startswith(
        f'target Bugs: database "Bugs" (data source {BUGS_DATA_SOURCE_ID})'
    )
    assert "  ok     Severity (select) ← priority" in lines[bugs:]
    assert any(line.startswith('  error  notion.property_missing: the database "Bugs" has no '
                               'property "Nope"') for line in lines[bugs:])  # fmt: skip
    roadmap = lines.index("target Roadmap:")
    assert lines[roadmap + 1].startswith("  error  notion.database_not_shared")
    assert lines[-1] == "result: 2 problem(s): tasks will fail"
