"""End to end: a team with two Notion targets routes the tasks of two Figma files to two
databases.

One system over the sandbox. An admin adds the target "Bugs" (the sandbox's second database,
with its own field mapping) and a route for one file through the read API; hostile settings
are refused naming the problem; the Notion check reads both databases through the notion
service; then a comment on each file becomes a task in its own database, and the job says
which target took it and why.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from figsync_sandbox import (
    BUGS_DATA_SOURCE_ID,
    BUGS_DATABASE_ID,
    DEFAULT_FILE_KEY,
    TASKS_DATA_SOURCE_ID,
)
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import (
    SERVICES,
    lift_sandbox_limits,
    outcome,
    post_email,
    start_system,
    system_env,
)

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
BUG_FILE = "BUGSq9dLm2RtV8bNc4HsZa"
BUGS = {
    "name": "Bugs",
    "database_id": f"https://www.notion.so/acme/{BUGS_DATABASE_ID.replace('-', '')}?v=1",
    "field_mapping": {"Name": "title", "Description": "summary", "Severity": "priority",
                      "State": "status", "Figma Thread": "figma_thread_url"},
}  # fmt: skip


async def test_routes_send_the_tasks_of_two_files_to_two_databases(
    spawn, sandbox_api, event_store, otlp
):
    lift_sandbox_limits(sandbox_api)
    figma, notion = sandbox_api.figma, sandbox_api.notion
    figma.add_file(BUG_FILE, "Bug Bash")
    env = system_env(sandbox_api, otlp.url)
    env.update(FIGSYNC_RECONCILE_INTERVAL_SECONDS="0", FIGSYNC_NOTION_POLL_INTERVAL_SECONDS="0")
    system = start_system(spawn, sandbox_api, event_store, env,
                          services=[s for s in SERVICES if s != "projector"])  # fmt: skip
    projector = spawn("figsync_projector.main",
                      FIGSYNC_NOTION_CHECK_URL=system.processes["notion"].url, **env)  # fmt: skip
    system.processes["projector"] = projector
    from figsync_projector.auth import issue_token

    admin = await issue_token(event_store.pool, "default", "admin", name="e2e")
    api = f"{system.projector}/api/teams/default"
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {admin.token}"}) as http:
        for hostile, problem in (
            ({"notion_targets": [BUGS], "notion_routes": [{"target": "Bug", "file_keys": [
                BUG_FILE]}]}, "route 1 sends tasks to 'Bug', which is not a target"),
            ({"notion_targets": [BUGS, {**BUGS, "name": "bugs"}]}, "two targets are named"),
            ({"notion_targets": [{**BUGS, "database_id": "../../v1/users"}]},
             "is not a Notion database id"),
        ):  # fmt: skip
            refused = await http.patch(f"{api}/settings", json=hostile)
            assert refused.status_code == 422, refused.text
            assert problem in refused.json()["error"]["message"], refused.text
        saved = await http.patch(f"{api}/settings", json={
            "notion_targets": [BUGS],
            "notion_routes": [{"target": "Bugs", "file_keys": [
                f"https://www.figma.com/design/{BUG_FILE}/Bug-Bash"]}]})  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert saved.json()["notion_targets"][0]["database_id"] == BUGS_DATABASE_ID
        assert saved.json()["notion_routes"][0]["file_keys"] == [BUG_FILE]
        checked = (await http.post(f"{api}/settings/notion-check", json={})).json()
        assert checked["ok"] is True, checked
        assert any(line.startswith('team default: database "Tasks"') for line in checked["lines"])
        assert any(line.startswith('target Bugs: database "Bugs"') for line in checked["lines"])
        await asyncio.sleep(2.2)  # every service sees a settings change within 2 s

        comments = {
            DEFAULT_FILE_KEY: figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith fix the spacing",
                                                emit=False),
            BUG_FILE: figma.add_comment(BUG_FILE, "@Anna Smith the save button crashes",
                                        emit=False),
        }  # fmt: skip
        jobs = {
            key: await post_email(system, comment_email_message(figma, key, c.id))
            for key, c in comments.items()
        }
        streams = dict(zip(jobs, await asyncio.gather(
            *(system.wait_for(job, DONE) for job in jobs.values())), strict=True))  # fmt: skip

        created = {}
        for key, stream in streams.items():
            assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream)
            created[key] = next(e for e in stream if e.type.split(".")[1] == "task_created").data
        assert (created[BUG_FILE]["target"], created[BUG_FILE]["route"]) == (
            "Bugs", f"route 1 (file {BUG_FILE})")  # fmt: skip
        assert created[BUG_FILE]["data_source_id"] == BUGS_DATA_SOURCE_ID
        assert (created[DEFAULT_FILE_KEY]["target"], created[DEFAULT_FILE_KEY]["route"]) == (
            "default", "no route matched")  # fmt: skip
        [bug] = notion.created_pages(BUGS_DATA_SOURCE_ID)
        [task] = notion.created_pages(TASKS_DATA_SOURCE_ID)
        assert bug.plain()["Figsync ID"] == jobs[BUG_FILE]
        assert bug.plain()["Figma Thread"].startswith(f"https://www.figma.com/design/{BUG_FILE}")
        assert bug.plain()["Name"] and bug.plain()["State"] == "Not started"
        assert task.plain()["Figsync ID"] == jobs[DEFAULT_FILE_KEY]

        # The job's timeline names the target (not personal data: it stays after erasure).
        async with asyncio.timeout(20):
            while True:
                found = await http.get(f"{api}/jobs/{jobs[BUG_FILE]}")
                timeline = found.json().get("timeline", []) if found.status_code == 200 else []
                entry = next((e for e in timeline if e["type"] == "TaskCreated"), None)
                if entry is not None:
                    break
                await asyncio.sleep(0.2)
        assert (entry["detail"]["target"], entry["detail"]["route"]) == (
            "Bugs", f"route 1 (file {BUG_FILE})")  # fmt: skip
