"""The right to erasure in an append-only store: erasing a job shreds its key, and then no
table holds what it said about anyone — views, caches, the person index — while its events,
counts and costs stay; rebuilt views show "erased"; retention erases ended jobs by itself."""

import asyncio
from decimal import Decimal

import pytest
from projector_histories import append, summary, task
from test_access import bearer, build, client, csrf_of
from test_audit import figsync

from figsync_clients.cache import SharedCache
from figsync_contracts import (
    CommentReceived,
    ConfirmationPosted,
    JobErased,
    JobFailed,
    ThreadComment,
    ThreadResolved,
)
from figsync_eventstore.personal import ERASED
from figsync_projector.audit import trail
from figsync_projector.auth import issue_token
from figsync_projector.commands import CommandError, request_retry
from figsync_projector.erasure import apply_retention, erase_job, erase_person
from figsync_projector.projection import Projection, rebuild
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_testkit.scan import database_rows

pytestmark = pytest.mark.integration

# What job A says about Zoë; none of it may survive her erasure, anywhere.
ZOE = ("zoe.q7", "Zoë Quentin-7", "u-77031", "fuchsia-kumquat-5521", "Ship the kumquat banner")
JOB_A, JOB_B = "job-zoe", "job-other"


def zoe_comment() -> CommentReceived:
    return CommentReceived(
        origin="webhook", file_key="FILEZ", file_name="Banner", comment_id="cz",
        author_handle="@zoe.q7", author_id="u-77031",
        text="@design make it fuchsia-kumquat-5521", mentions=["design"],
    )  # fmt: skip


def zoe_thread() -> ThreadResolved:
    return ThreadResolved(
        file_key="FILEZ", file_name="Banner", file_url="https://figma.com/file/FILEZ",
        comment_id="cz", root_comment_id="cz", author="Zoë Quentin-7",
        text="@design make it fuchsia-kumquat-5521", mentions=["design"],
        thread=[ThreadComment(comment_id="cz", author="Zoë Quentin-7",
                              text="@design make it fuchsia-kumquat-5521")],
    )  # fmt: skip


def zoe_summary():
    return summary().model_copy(
        update={"title": "Ship the kumquat banner", "summary": "Zoë Quentin-7 wants it"}
    )


async def history(store) -> None:
    await append(store, JOB_A, zoe_comment(), zoe_thread(), zoe_summary(), task(JOB_A),
                 JobFailed(step="notifier", code="figma.forbidden", attempts=1,
                           message="403 replying to Zoë Quentin-7 (fuchsia-kumquat-5521)"))  # fmt: skip
    other = CommentReceived(origin="webhook", file_key="FILEO", comment_id="co",
                            author_handle="@bo", text="@design other work", mentions=["design"])  # fmt: skip
    await append(store, JOB_B, other, summary(), task(JOB_B), ConfirmationPosted(comment_id="r"))


async def drain(projection: Projection) -> None:
    while await projection.apply_batch(500):
        pass


async def every_row(pool) -> str:
    """Every row of every table we own, as text (the events' sealed data included)."""
    return "\n".join(await database_rows(pool))


def traces(dump: str) -> list[str]:
    return [line for line in dump.splitlines() if any(v.lower() in line.lower() for v in ZOE)]


async def caches(pool) -> None:
    """The copies outside the events: a summary cached for job A (as the summarizer keeps
    it, with its job), the file's comments (as the Figma client shares them)."""
    await pool.execute(
        """INSERT INTO summary_cache (cache_key, team, model, prompt_version, summary,
                                      expires_at, job_id)
           VALUES ('k-zoe', 'acme', 'm', '1', $1, now() + interval '1 hour', $2)""",
        {"title": "Ship the kumquat banner", "summary": "fuchsia-kumquat-5521"}, JOB_A,
    )  # fmt: skip
    await SharedCache(pool).put(
        "figma-comments:0123456789abcdef:FILEZ:0", [{"id": "cz", "message": "fuchsia-kumquat-5521"}]
    )


async def test_erasing_a_person_leaves_no_trace_in_any_table_and_keeps_the_counts(
    event_store, pg_pool, database_url
):
    await history(event_store)
    await caches(pg_pool)
    projection = Projection(event_store)
    await drain(projection)
    assert traces(await every_row(pg_pool))  # the views and caches did hold her data
    daily = await pg_pool.fetch("SELECT * FROM projections.daily_metrics ORDER BY 1, 2")
    costs = await pg_pool.fetch("SELECT * FROM projections.costs ORDER BY 1, 2")

    result = await asyncio.to_thread(figsync, database_url, "erase", "--person", "@Zoe.Q7")
    assert result.returncode == 0, result.stderr
    assert f"erased: job {JOB_A} (team acme)" in result.stdout
    await drain(projection)

    assert traces(await every_row(pg_pool)) == []
    # The job, its events and the team's figures stay; its row says erased.
    job = await pg_pool.fetchrow("SELECT * FROM projections.jobs WHERE job_id = $1", JOB_A)
    assert (job["status"], job["author"], job["title"], job["comment_text"]) == (
        "failed", ERASED, ERASED, ERASED,
    )  # fmt: skip
    assert job["cost_usd"] == Decimal("0.0123") and job["error_code"] == "figma.forbidden"
    assert await pg_pool.fetch("SELECT * FROM projections.daily_metrics ORDER BY 1, 2") == daily
    assert await pg_pool.fetch("SELECT * FROM projections.costs ORDER BY 1, 2") == costs
    stored = await event_store.read_stream(JOB_A)
    assert [e.type for e in stored][-1] == JobErased.type and len(stored) == 6
    assert stored[0].data["text"] == ERASED
    # Job B, which does not name her, is untouched.
    other = await pg_pool.fetchrow("SELECT * FROM projections.jobs WHERE job_id = $1", JOB_B)
    assert other["comment_text"] is None and other["author"] == "@bo"
    assert (await event_store.read_stream(JOB_B))[0].data["text"] == "@design other work"
    # The audit trail says who erased what, and names her nowhere.
    [entry] = [e for e in await trail(pg_pool, "acme") if e.action == "job.erased"]
    assert (entry.actor, entry.target, entry.details) == ("cli", JOB_A, {"reason": "request"})

    # A rebuild (a replay of every event) brings nothing back.
    await rebuild(event_store)
    assert traces(await every_row(pg_pool)) == []
    rebuilt = await pg_pool.fetchrow("SELECT * FROM projections.jobs WHERE job_id = $1", JOB_A)
    assert (rebuilt["author"], rebuilt["title"]) == (ERASED, ERASED)
    assert await pg_pool.fetch("SELECT * FROM projections.daily_metrics ORDER BY 1, 2") == daily

    # Erasing again changes nothing and appends nothing.
    again = await erase_job(event_store, JOB_A, reason="request", requested_by="cli")
    assert again.already and len(await event_store.read_stream(JOB_A)) == 6


async def test_a_job_is_erased_by_id_only_within_its_team(event_store, pg_pool):
    await history(event_store)
    with pytest.raises(CommandError) as refused:
        await erase_job(event_store, JOB_A, reason="request", requested_by="x", team="globex")
    assert refused.value.code == "job.not_found"
    assert (await event_store.read_stream(JOB_A))[0].data["text"].endswith("5521")
    with pytest.raises(CommandError):
        await erase_person(event_store, " @ ", requested_by="x")
    assert await erase_person(event_store, "nobody@example.com", requested_by="x") == []


async def test_retention_erases_the_jobs_that_ended_longer_ago_than_the_team_keeps_them(
    event_store, pg_pool
):
    for team in ("now", "month", "forever"):
        await append(event_store, f"done-{team}", zoe_comment(), zoe_thread(), zoe_summary(),
                     task(f"done-{team}"), ConfirmationPosted(comment_id="r"), team=team)  # fmt: skip
    await append(event_store, "running-now", zoe_comment(), zoe_thread(), team="now")
    projection = Projection(event_store)
    await drain(projection)

    erased = await apply_retention(event_store, [("now", 0), ("month", 30), ("forever", None)])
    assert [e.job_id for e in erased] == ["done-now"]
    await drain(projection)
    rows = await pg_pool.fetch("SELECT job_id, title FROM projections.jobs ORDER BY job_id")
    assert {r["job_id"]: r["title"] for r in rows} == {
        "done-now": ERASED,
        "done-month": "Ship the kumquat banner",
        "done-forever": "Ship the kumquat banner",
        "running-now": None,
    }
    [erasure] = [e for e in await event_store.read_stream("done-now") if e.type == JobErased.type]
    assert erasure.data["reason"] == "retention"
    # A second pass finds nothing left to do.
    assert await apply_retention(event_store, [("now", 0)]) == []


async def test_retention_is_a_team_setting_of_the_api_and_the_settings_form(event_store):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme"})
    assert (await teams.get("acme")).retention_days == 30  # the default
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        for bad in (-1, 3651, "soon"):
            refused = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                       json={"retention_days": bad})  # fmt: skip
            assert refused.status_code == 422, bad
        kept = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                json={"retention_days": None})  # fmt: skip
        assert kept.status_code == 200 and kept.json()["retention_days"] is None

        csrf = await csrf_of(http, admin.token, "/t/acme/settings")
        assert 'name="retention_days"' in (await http.get("/t/acme/settings")).text
        saved = await http.post("/t/acme/settings", data={"csrf": csrf, "retention_days": "7"})
        assert saved.status_code == 200, saved.text
        assert (await teams.get("acme")).retention_days == 7
        wrong = await http.post("/t/acme/settings", data={"csrf": csrf, "retention_days": "a week"})
        assert "not a whole number of days" in wrong.text
    assert (await teams.get("acme")).retention_days == 7


async def test_an_erased_job_says_so_on_its_page_and_cannot_be_retried(event_store, pg_pool):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme"})
    await history(event_store)  # job A ends failed: retryable until erased
    projection = Projection(event_store)
    await drain(projection)
    member = await issue_token(pg_pool, "acme", "member", name="viewer")
    async with client(build(event_store, teams)) as http:
        await csrf_of(http, member.token, f"/t/acme/jobs/{JOB_A}")
        before = (await http.get(f"/t/acme/jobs/{JOB_A}")).text
        assert 'id="retry"' in before and "fuchsia-kumquat-5521" in before

        await erase_job(event_store, JOB_A, reason="retention", requested_by="retention")
        await drain(projection)
        page = (await http.get(f"/t/acme/jobs/{JOB_A}")).text
    assert 'id="job-erased"' in page and "(retention)" in page
    assert 'id="retry"' not in page and not traces(page)
    with pytest.raises(CommandError) as refused:
        await request_retry(event_store, JOB_A)
    assert refused.value.code == "job.erased"
