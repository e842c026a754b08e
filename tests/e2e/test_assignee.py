"""End to end: the person a comment is addressed to becomes the Notion task's assignee.

One system over the sandbox, four comments by email at once: one assigned through the team's
explicit pair, one by an email match, one by a name match, and one whose best match is below
the threshold — that task is made all the same, with no one assigned and the reason on its job.
"""

from __future__ import annotations

import asyncio

import pytest

from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import (
    lift_sandbox_limits,
    outcome,
    post_email,
    start_system,
    system_env,
)

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
TASKS = {"Title": {"title": {}}, "Summary": {"rich_text": {}}, "Assignee": {"people": {}}}


async def test_tasks_get_their_assignee_or_the_reason_there_is_none(
    spawn, sandbox_api, event_store, otlp
):
    lift_sandbox_limits(sandbox_api)
    figma, notion = sandbox_api.figma, sandbox_api.notion
    database = notion.add_database("Assigned tasks", TASKS)
    source = database.data_source_ids[0]
    lead = notion.add_user("Design Lead", "lead@example.com")
    anna = notion.add_user("Anna Smith", "anna.smith@example.com")
    nora = notion.add_user("Nora Quist", "nquist@example.com")
    notion.add_user("Ann Lee", "ann.lee@example.com")
    for handle in ("nquist", "Ann"):
        figma.add_user(handle)
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change(
        "default",
        {"assignee_map": [{"figma": "@testfigma", "notion": lead}], "assignee_match_threshold": 90},
        changed_by="test",
    )
    env = system_env(sandbox_api, otlp.url)
    env.update(
        NOTION_DATABASE_ID=database.id,
        FIGSYNC_TRACKED_MENTIONS="@Anna Smith,@testfigma,@nquist,@Ann",
        FIGSYNC_RECONCILE_INTERVAL_SECONDS="0",
        FIGSYNC_NOTION_POLL_INTERVAL_SECONDS="0",
    )
    system = start_system(spawn, sandbox_api, event_store, env)

    expected = {
        "@testfigma please check the spacing": (lead, "explicit"),
        "@nquist can you export the icons?": (nora, "email"),
        "@Anna Smith the header needs work": (anna, "name"),
        "@Ann the footer too": (None, "name"),
    }
    comments = {text: figma.add_comment(DEFAULT_FILE_KEY, text, emit=False) for text in expected}
    jobs = {
        text: await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, c.id))
        for text, c in comments.items()
    }
    streams = await asyncio.gather(*(system.wait_for(job, DONE) for job in jobs.values()))
    pages = {p.plain()["Figsync ID"]: p for p in notion.created_pages(source)}
    for (text, (user, method)), job, stream in zip(
        expected.items(), jobs.values(), streams, strict=True
    ):
        assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data
        created = next(e for e in stream if e.type.split(".")[1] == "task_created")
        decision = created.data["assignee"]
        assert decision["method"] == method, (text, decision)
        assert decision["user_id"] == user, (text, decision)
        assert pages[job].plain()["Assignee"] == ([user] if user else []), text
        if user is None:
            assert decision["reason"] == "below_threshold"
            assert decision["note"].startswith("no assignee for @Ann: best name match 'Ann Lee'")
            assert decision["note"].endswith("< 90")
        else:
            assert decision["reason"] == "assigned" and decision["note"].startswith("assigned to")
    # Every replica shares one read of the users list (Postgres), not one per task.
    assert len(notion.requests("GET", "/v1/users")) == 1
