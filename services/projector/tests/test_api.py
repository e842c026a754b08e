import asyncio
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from projector_auth import TeamTokens, authenticator, tokens_for
from projector_histories import append, comment, email, failed, random_history, resolved, summary

from figsync_contracts import (
    ConfirmationPosted,
    JobRetryRequested,
    ManualSyncRequested,
    TeamSettingsChanged,
    team_stream_id,
)
from figsync_projector.api import create_app
from figsync_projector.feed import ChangeFeed
from figsync_projector.projection import Projection, rebuild
from figsync_projector.views import Views

pytestmark = pytest.mark.integration

FAILED_JOB = "0b4f9e65-2222-4a0c-9d3e-000000000001"
DONE_JOB = "0b4f9e65-2222-4a0c-9d3e-000000000002"
OTHER_TEAM_JOB = "0b4f9e65-2222-4a0c-9d3e-000000000003"


async def seed(store) -> None:
    await append(store, team_stream_id("acme"), TeamSettingsChanged(changes={}))
    await append(store, team_stream_id("globex"), TeamSettingsChanged(changes={}), team="globex")
    await append(store, FAILED_JOB, email(1), failed("figma", "figma.comment_not_found", 1))
    await append(store, DONE_JOB, comment(), resolved(), summary(cost="0.5"))
    await append(store, DONE_JOB, ConfirmationPosted(comment_id="r"))
    await append(store, OTHER_TEAM_JOB, email(2), team="globex")


@pytest.fixture
async def api(event_store):
    await seed(event_store)
    await Projection(event_store).apply_batch(1000)
    app = create_app(
        Views(event_store.pool), event_store, ChangeFeed(None),
        clock=lambda: datetime.now(UTC), auth=authenticator(event_store.pool),
    )  # fmt: skip
    tokens = await tokens_for(event_store.pool, "acme", "globex")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector",
        auth=TeamTokens(tokens, default="acme"),
    ) as client:  # fmt: skip
        yield client


async def test_stats_count_the_last_30_days_and_this_months_cost(api):
    stats = (await api.get("/api/teams/acme/stats")).json()
    assert (stats["total"], stats["successful"], stats["failed"]) == (2, 1, 1)
    assert stats["success_rate"] == 0.5
    assert float(stats["cost_this_month_usd"]) == 0.5
    assert stats["avg_processing_ms"] is not None


async def test_jobs_filter_by_status_and_page(api):
    page = (await api.get("/api/teams/acme/jobs", params={"limit": 1})).json()
    assert (page["total"], len(page["items"]), page["limit"]) == (2, 1, 1)
    second = (await api.get("/api/teams/acme/jobs", params={"limit": 1, "offset": 1})).json()
    assert {page["items"][0]["job_id"], second["items"][0]["job_id"]} == {FAILED_JOB, DONE_JOB}
    failed_only = (await api.get("/api/teams/acme/jobs", params={"status": "failed"})).json()
    assert [j["job_id"] for j in failed_only["items"]] == [FAILED_JOB]
    assert failed_only["items"][0]["error_code"] == "figma.comment_not_found"


async def test_bad_query_parameters_are_named_errors(api):
    bad_status = await api.get("/api/teams/acme/jobs", params={"status": "exploded"})
    assert bad_status.status_code == 422
    assert bad_status.json()["error"]["code"] == "jobs.bad_status"
    too_many = await api.get("/api/teams/acme/jobs", params={"limit": 100000})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "request.invalid"
    backwards = await api.get(
        "/api/teams/acme/metrics/daily", params={"since": "2025-02-01", "until": "2025-01-01"}
    )
    assert backwards.json()["error"]["code"] == "metrics.bad_range"


async def test_a_job_comes_with_its_timeline(api):
    job = (await api.get(f"/api/teams/acme/jobs/{DONE_JOB}")).json()
    assert job["status"] == "completed"
    assert [e["type"] for e in job["timeline"]] == [
        "CommentReceived", "ThreadResolved", "SummaryGenerated", "ConfirmationPosted",
    ]  # fmt: skip
    assert job["timeline"][2]["detail"]["title"] == "Fix the header"


async def test_a_team_sees_nothing_of_another_team_and_unknown_teams_are_404(api):
    other = await api.get(f"/api/teams/acme/jobs/{OTHER_TEAM_JOB}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "job.not_found"
    assert (await api.get("/api/teams/globex/jobs")).json()["total"] == 1
    for path in ["stats", "jobs", "errors", "metrics/daily", "costs", "events"]:
        unknown = await api.get(f"/api/teams/nobody/{path}")
        assert unknown.status_code == 404, path
        assert unknown.json()["error"]["code"] == "team.not_found"
    assert (await api.get("/api/teams/NOT A TEAM/stats")).status_code == 404


async def test_daily_metrics_errors_and_costs(api):
    days = (await api.get("/api/teams/acme/metrics/daily")).json()
    assert len(days) == 1
    day = days[0]
    assert (day["jobs"], day["successful"], day["failed"], day["ai_calls"]) == (2, 1, 1, 1)
    assert (day["figma_calls"], day["notion_calls"]) == (3, 0)
    errors = (await api.get("/api/teams/acme/errors")).json()
    assert [(e["code"], e["count"], e["last_job_id"]) for e in errors] == [
        ("figma.comment_not_found", 1, FAILED_JOB)
    ]
    costs = (await api.get("/api/teams/acme/costs")).json()
    assert float(costs[0]["cost_usd"]) == 0.5 and costs[0]["summaries"] == 1


async def test_the_openapi_document_lists_every_route(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in ["stats", "jobs", "jobs/{job_id}", "metrics/daily", "errors", "events",
                 "jobs/{job_id}/retry", "sync"]:  # fmt: skip
        assert f"/api/teams/{{team}}/{path}" in paths


async def test_retry_appends_a_retry_request_for_the_failed_step(api, event_store):
    accepted = await api.post(f"/api/teams/acme/jobs/{FAILED_JOB}/retry")
    assert accepted.status_code == 202
    assert accepted.json()["step"] == "figma"
    last = (await event_store.read_stream(FAILED_JOB))[-1]
    assert last.type == JobRetryRequested.type
    assert last.data["step"] == "figma"
    assert last.metadata["source"] == "/services/projector"
    assert last.metadata["team"] == "acme"
    assert last.event_id == accepted.json()["event_id"]
    # Until it fails again, a second retry is refused: the job is no longer failed.
    again = await api.post(f"/api/teams/acme/jobs/{FAILED_JOB}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job.not_retryable"


async def test_retry_refuses_jobs_that_are_not_failed_or_belong_to_another_team(api):
    done = await api.post(f"/api/teams/acme/jobs/{DONE_JOB}/retry")
    assert done.status_code == 409 and done.json()["error"]["code"] == "job.not_retryable"
    other = await api.post(f"/api/teams/acme/jobs/{OTHER_TEAM_JOB}/retry")
    assert other.status_code == 404 and other.json()["error"]["code"] == "job.not_found"
    missing = await api.post("/api/teams/acme/jobs/team:acme/retry")
    assert missing.status_code == 404


async def test_manual_sync_records_the_command_and_answers_202(api, event_store):
    accepted = await api.post("/api/teams/acme/sync", json={"file_key": "AbC123xyz"})
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["stream_id"] == f"sync:acme:{body['sync_id']}"
    [event] = await event_store.read_stream(body["stream_id"])
    assert event.type == ManualSyncRequested.type
    assert event.data["file_key"] == "AbC123xyz"
    assert event.metadata["team"] == "acme"


@pytest.mark.parametrize(
    "body", [{}, {"file_key": ""}, {"file_key": "../../etc"}, {"file_key": "x" * 500}, []]
)
async def test_manual_sync_refuses_bad_file_keys(api, body):
    refused = await api.post("/api/teams/acme/sync", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] in {"sync.bad_file_key", "request.invalid"}


async def read_sse(url: str, count: int, auth: httpx.Auth, timeout: float = 15) -> list[dict]:
    found = []
    async with httpx.AsyncClient(timeout=timeout, auth=auth) as client:
        async with client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event: dict = {}
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif line == "" and "data" in event:
                    found.append(event)
                    event = {}
                    if len(found) == count:
                        return found
    return found


async def test_the_sse_stream_reports_job_changes_live(event_store, spawn):
    await seed(event_store)
    auth = TeamTokens(await tokens_for(event_store.pool, "acme"), default="acme")
    service = spawn("figsync_projector.main")
    url = f"{service.url}/api/teams/acme/events"
    stats = f"{service.url}/api/teams/acme/stats"
    while (await asyncio.to_thread(httpx.get, stats, auth=auth)).status_code != 200:
        await asyncio.sleep(0.1)
    job = "0b4f9e65-2222-4a0c-9d3e-000000000009"
    reading = asyncio.create_task(read_sse(url, 2, auth))
    await asyncio.sleep(0.5)
    await append(event_store, job, email(9))
    await asyncio.sleep(0.3)
    await append(event_store, job, failed("figma", "figma.forbidden", 1))
    events = await asyncio.wait_for(reading, 15)
    assert [(e["data"]["job_id"], e["data"]["status"]) for e in events] == [
        (job, "received"), (job, "failed"),
    ]  # fmt: skip
    # Resuming from an id replays what came after it.
    since_first = await read_sse(f"{url}?after={events[0]['id']}", 1, auth)
    assert since_first[0]["data"]["status"] == "failed"
    assert service.stop() == 0


async def test_a_rebuild_while_the_api_serves_gives_no_error_and_no_empty_answer(
    event_store, spawn
):
    await random_history(event_store, 3, jobs=150)
    auth = TeamTokens(await tokens_for(event_store.pool, "acme"), default="acme")
    # Three readers as fast as they can go: far past a token's rate, which is not the point.
    service = spawn("figsync_projector.main", FIGSYNC_API_REQUESTS_PER_MINUTE="0")
    async with httpx.AsyncClient(base_url=service.url, timeout=10, auth=auth) as client:
        deadline = time.monotonic() + 20
        head = await event_store.last_position()
        checkpoint = "SELECT position FROM projections.checkpoint"
        while await event_store.pool.fetchval(checkpoint) < head:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        stats = await client.get("/api/teams/acme/stats")
        expected_total = stats.json()["total"]
        stop = asyncio.Event()
        answers: list[tuple[str, int, int]] = []

        async def read_continuously() -> None:
            while not stop.is_set():
                page = await client.get("/api/teams/acme/jobs", params={"limit": 5})
                stats = await client.get("/api/teams/acme/stats")
                body = page.json() if page.status_code == 200 else {}
                answers.append(("jobs", page.status_code, len(body.get("items", []))))
                answers.append(("stats", stats.status_code, stats.json().get("total", 0)))

        readers = [asyncio.create_task(read_continuously()) for _ in range(3)]
        for _ in range(2):
            result = await rebuild(event_store, batch_size=50)
            assert result.position == head
        stop.set()
        await asyncio.gather(*readers)
    assert len(answers) > 20, len(answers)
    assert all(status == 200 for _, status, _ in answers), answers
    assert all(n > 0 for _, _, n in answers)
    assert {n for kind, _, n in answers if kind == "stats"} == {expected_total}
    assert "Traceback" not in service.logs()
