"""Pacing per integration token, Retry-After, and the circuit breaker, against the sandbox."""

from __future__ import annotations

import asyncio

import pytest
from notion_jobs import add_job, configure_team, harness

from figsync_clients.budget import LocalBudgets
from figsync_clients.resilience import CircuitOpen
from figsync_contracts import TaskCreated
from figsync_notion.adapters.notion_api import NotionApi
from figsync_runtime import RetryableError
from figsync_sandbox import TASKS_DATA_SOURCE_ID, TASKS_DATABASE_ID

pytestmark = pytest.mark.integration


async def test_a_429_storm_is_paced_through_and_every_task_is_created(event_store, sandbox_api):
    notion = sandbox_api.notion  # Notion's own limit stays on: 3 requests/s, bursts of 10
    notion.faults.set_seed(7)
    notion.faults.inject("*", status=429, retry_after=1, rate=0.35)
    teams = await configure_team(event_store, sandbox_api)
    h = harness(event_store, teams, sandbox_api, notion_requests_per_second=3.0)
    jobs = [await add_job(event_store, f"job-storm-{i}") for i in range(6)]

    await asyncio.gather(*(h.deliver(j) for j in jobs))

    for i in range(6):
        assert isinstance(await h.outcome(f"job-storm-{i}"), TaskCreated)
    pages = notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert sorted(p.plain()["Figsync ID"] for p in pages) == [f"job-storm-{i}" for i in range(6)]
    seen = notion.requests()
    storm = [r for r in seen if r.status == 429]
    assert len(storm) >= 3 and all(r.fault for r in storm), "only the injected 429s"
    # Retry-After honoured: nothing was sent within a second of a 429's answer, except requests
    # already on their way when it came.
    for limited in storm:
        answered = limited.time + (limited.duration_ms or 0) / 1000
        too_soon = [r for r in seen if answered + 0.05 < r.time < answered + 0.95]
        assert too_soon == [], (limited.seq, [(r.seq, r.time - answered) for r in too_soon])
    # Paced: never more than the pacer's 3 at once plus 3 a second in any one-second window.
    times = sorted(r.time for r in seen)
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 6


async def test_a_long_retry_after_hands_the_job_back_with_that_delay(event_store, sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    sandbox_api.notion.faults.inject("POST /v1/pages", status=429, retry_after=30, times=1)
    teams = await configure_team(event_store, sandbox_api)
    h = harness(event_store, teams, sandbox_api, notion_wait_budget_seconds=2)
    summary = await add_job(event_store, "job-later")
    decision = await h.runner.process(summary, attempt=1)
    assert type(decision).__name__ == "Redeliver"
    assert decision.code == "notion.rate_limited" and decision.delay == 30
    assert sandbox_api.notion.created_pages() == []


async def test_the_circuit_opens_per_token_after_repeated_failures(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    sandbox_api.notion.faults.inject("GET /v1/databases/*", status=503)
    api = NotionApi(
        sandbox_api.notion_url, requests_per_second=100, budgets=LocalBudgets(breaker_threshold=2)
    )
    token = sandbox_api.notion_token
    try:
        for _ in range(2):
            with pytest.raises(RetryableError) as failed:
                await api.database(token, TASKS_DATABASE_ID)
            assert failed.value.code == "notion.unavailable"
        sent = len(sandbox_api.notion.requests())
        with pytest.raises(CircuitOpen) as refused:
            await api.database(token, TASKS_DATABASE_ID)
        assert refused.value.code == "notion.circuit_open" and refused.value.retry_after > 0
        assert len(sandbox_api.notion.requests()) == sent, "an open circuit sends nothing"
        # Another integration's circuit is its own.
        with pytest.raises(RetryableError) as other:
            await api.database("ntn_other_token", TASKS_DATABASE_ID)
        assert other.value.code == "notion.unavailable"
        assert len(sandbox_api.notion.requests()) == sent + 1
    finally:
        await api.aclose()
