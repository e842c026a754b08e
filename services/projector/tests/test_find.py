"""Find anything: the jobs' filters in the read API and in `figsync jobs list`, the job's story,
and the views behind them (rebuilt from the events alike)."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from find_world import (
    ALL,
    BROKEN,
    EMAILED,
    HEADER,
    IGNORED,
    OTHER_TEAM,
    PRICING,
    TRACE,
    WAITING,
    seed,
)  # fmt: skip
from projector_auth import TeamTokens, authenticator, tokens_for

from figsync_projector.api import create_app
from figsync_projector.feed import ChangeFeed
from figsync_projector.projection import Projection, rebuild
from figsync_projector.views import Views

pytestmark = pytest.mark.integration
TODAY = datetime.now(UTC).date()


@pytest.fixture
async def api(event_store):
    await seed(event_store)
    await Projection(event_store).apply_batch(1000)
    app = create_app(Views(event_store.pool), event_store, ChangeFeed(None),
                     auth=authenticator(event_store.pool))  # fmt: skip
    tokens = await tokens_for(event_store.pool, "acme", "globex")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector",
        auth=TeamTokens(tokens, default="acme"),
    ) as client:  # fmt: skip
        yield client


async def found(api, **params) -> set[str]:
    response = await api.get("/api/teams/acme/jobs", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return {job["job_id"] for job in body["items"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, set(ALL)),
        ({"status": "completed"}, {HEADER, PRICING}),
        ({"status": ["failed", "ignored"]}, {BROKEN, EMAILED, IGNORED}),
        ({"file": "PRICING9"}, {PRICING, BROKEN}),
        ({"file": "landing PAGE"}, {HEADER, IGNORED, WAITING}),
        ({"author": "carla"}, {PRICING, BROKEN}),
        ({"author": "@Anna Smith"}, {HEADER}),
        ({"mention": "bob"}, {HEADER, BROKEN, WAITING}),
        ({"mention": "@anna smith"}, {PRICING}),
        ({"text": "HEADER"}, {HEADER}),
        ({"text": "10%"}, {PRICING}),  # % and _ are text, not wildcards
        ({"text": "he_d"}, set()),
        ({"text": "footer_link"}, {BROKEN}),
        ({"error_code": "notion.unauthorized"}, {BROKEN}),
        ({"since": str(TODAY), "until": str(TODAY)}, set(ALL)),
        ({"since": str(TODAY + timedelta(days=1))}, set()),
        ({"until": str(TODAY - timedelta(days=1))}, set()),
        ({"status": "failed", "file": "Pricing", "mention": "Bob"}, {BROKEN}),
    ],
)
async def test_each_filter_finds_exactly_its_jobs(api, params, expected):
    assert await found(api, **params) == expected


async def test_filters_page_and_never_cross_teams(api):
    first = (await api.get("/api/teams/acme/jobs", params={"mention": "bob", "limit": 2})).json()
    rest = (await api.get("/api/teams/acme/jobs",
                          params={"mention": "bob", "limit": 2, "offset": 2})).json()  # fmt: skip
    assert first["total"] == rest["total"] == 3
    assert len(first["items"]) == 2 and len(rest["items"]) == 1
    ids = {j["job_id"] for j in first["items"] + rest["items"]}
    assert ids == {HEADER, BROKEN, WAITING}
    assert OTHER_TEAM not in await found(api, text="")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "exploded"}, "jobs.bad_status"),
        ({"since": "yesterday"}, "jobs.bad_date"),
        ({"until": "2025-02-30"}, "jobs.bad_date"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "jobs.bad_range"),
        ({"text": "x" * 201}, "jobs.bad_filter"),
        ({"author": "a\x00b"}, "jobs.bad_filter"),
    ],
)
async def test_a_bad_filter_is_refused_with_a_named_code(api, params, code):
    refused = await api.get("/api/teams/acme/jobs", params=params)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["message"]


async def test_a_job_tells_its_story(api):
    job = (await api.get(f"/api/teams/acme/jobs/{HEADER}")).json()
    story = job["story"]
    assert story["trace_id"] == TRACE
    assert [(c["author"], c["text"]) for c in story["thread"]] == [
        ("Anna Smith", "@Bob the header is too tall"), ("Bob", "On it, 48px then?"),
    ]  # fmt: skip
    assert story["thread"][1]["resolved_at"].startswith("2025-06-01T10:00")
    assert story["summary"]["action_items"] == ["do it", "check it"]
    assert (story["summary"]["priority"], story["summary"]["category"]) == ("high", "design")
    assert job["comment_text"] == "@Bob the header is too tall"
    bare = (await api.get(f"/api/teams/acme/jobs/{EMAILED}")).json()["story"]
    assert bare == {"trace_id": None, "file_url": None, "thread": [], "summary": None}


async def test_a_rebuild_gives_the_same_filters_and_stories(api, event_store):
    async def snapshot():
        rows = await event_store.pool.fetch(
            "SELECT job_id, comment_text FROM projections.jobs ORDER BY job_id"
        )
        stories = await event_store.pool.fetch(
            "SELECT job_id, trace_id, file_url, thread::text, summary::text "
            "FROM projections.job_stories ORDER BY job_id"
        )
        return [tuple(r) for r in rows], [tuple(r) for r in stories]

    before = await snapshot()
    assert len(before[1]) == 4  # HEADER (trace, thread, summary), PRICING, BROKEN, WAITING
    await rebuild(event_store, batch_size=3)
    assert await snapshot() == before
    assert await found(api, text="header") == {HEADER}


def figsync(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIGSYNC_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "figsync_cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


async def test_figsync_jobs_list_takes_the_same_filters(api, database_url):
    listed = figsync(database_url, "jobs", "list", "--team", "acme", "--mention", "Bob",
                     "--status", "failed", "--status", "summarizing", "--format", "json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    jobs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {j["job_id"] for j in jobs} == {BROKEN, WAITING}
    table = figsync(database_url, "jobs", "list", "--team", "acme", "--text", "prices")
    assert table.returncode == 0 and PRICING in table.stdout and "1 job" in table.stderr
    bad = figsync(database_url, "jobs", "list", "--team", "acme", "--since", "2025-13-01")
    assert bad.returncode == 2 and bad.stderr.startswith("jobs.bad_date: since:")
