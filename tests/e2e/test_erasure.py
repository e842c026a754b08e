"""End to end: the right to erasure and retention over every process and the sandbox.

A person's comment goes all the way to a Notion task; `figsync erase --person` then leaves no
trace of them in any table, any NATS message or any process's log, while the job, its events
and the counts stay; a replay of the erased events goes through without bringing anything
back or repeating an effect; and a team whose retention is 0 days has a job erased by the
projector's retention loop as soon as it ends.
"""

import asyncio

import httpx
import pytest

from figsync_contracts import JobErased
from figsync_eventstore.personal import ERASED
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.scan import database_rows, nats_messages
from figsync_testkit.system import (
    lift_sandbox_limits,
    outcome,
    post_email,
    start_system,
    system_env,
)

pytestmark = pytest.mark.e2e

AUTHOR = "Zoë Quentin"
SECRET = "ultramarine-quokka-8812"
DONE = {"confirmation_posted", "job_failed", "job_ignored"}


def traces(*places: list[str]) -> list[str]:
    return [
        line[:300]
        for place in places
        for line in place
        if SECRET in line or AUTHOR in line or AUTHOR.encode("unicode_escape").decode() in line
    ]


async def figsync(database_url: str, nats_url: str, *args: str) -> str:
    import os
    import sys

    env = {**os.environ, "FIGSYNC_DATABASE_URL": database_url, "FIGSYNC_NATS_URL": nats_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "figsync_cli.main", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def view_of(pool, job: str, column: str, wanted: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while await pool.fetchval(
            f"SELECT {column} FROM projections.jobs WHERE job_id = $1", job
        ) != wanted:  # fmt: skip
            await asyncio.sleep(0.2)


async def test_an_erased_person_is_gone_from_every_table_message_and_log(
    spawn, sandbox_api, event_store, otlp, database_url, nats_url
):
    lift_sandbox_limits(sandbox_api)
    env = {**system_env(sandbox_api, otlp.url), "FIGSYNC_RETENTION_INTERVAL_SECONDS": "0.5"}
    system = start_system(spawn, sandbox_api, event_store, env)
    figma, pool = system.sandbox.figma, event_store.pool
    figma.add_user(AUTHOR)
    figma.add_user("Bo")
    comment = figma.add_comment(
        DEFAULT_FILE_KEY, f"@Anna Smith paint the banner {SECRET}", author=AUTHOR
    )
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, DONE)
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data
    await view_of(pool, job, "status", "completed")
    before = traces(await database_rows(pool))
    assert any(line.startswith("projections.") for line in before), before  # the views had it
    assert not any(line.startswith("public.events") for line in before)  # sealed at rest
    assert traces(await nats_messages(nats_url)) == []  # and on the wire

    printed = await figsync(database_url, nats_url, "erase", "--person", AUTHOR)
    assert f"erased: job {job}" in printed
    await view_of(pool, job, "author", ERASED)

    assert traces(await database_rows(pool)) == []
    assert traces(await nats_messages(nats_url)) == []
    assert traces(*(p.logs().splitlines() for p in system.processes.values())) == []
    stored = await event_store.read_stream(job)
    assert stored[-1].type == JobErased.type and stored[0].data["html"] == ERASED
    daily = await pool.fetchval("SELECT sum(successful) FROM projections.daily_metrics")
    assert daily == 1

    # Replaying every event (sealed, as stored) repeats no effect and brings nothing back.
    await figsync(database_url, nats_url, "replay", "--from-position", "1")
    await asyncio.sleep(3)
    assert len(system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1
    assert len([c for c in figma.posted_comments() if c.parent_id == comment.id]) == 1
    assert traces(await database_rows(pool), await nats_messages(nats_url)) == []

    # Retention: the team keeps nothing once a job ends.
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("default", {"retention_days": 0}, changed_by="test")
    second = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith kept for no time", author="Bo")
    job2 = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, second.id))
    async with asyncio.timeout(60):
        while JobErased.type not in [e.type for e in await event_store.read_stream(job2)]:
            await asyncio.sleep(0.3)
    [erased] = [e for e in await event_store.read_stream(job2) if e.type == JobErased.type]
    assert erased.data["reason"] == "retention"
    await view_of(pool, job2, "comment_text", ERASED)
    # The job page says so, and shows no thread.
    from figsync_projector.auth import issue_token

    token = await issue_token(pool, "default", "member", name="e2e")
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token.token}"}) as http:
        page = await http.get(f"{system.projector}/api/teams/default/jobs/{job2}")
    assert page.status_code == 200 and "kept for no time" not in page.text
