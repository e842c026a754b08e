"""Budget, retries, Retry-After, timeouts and the circuit: the job always reaches SummaryGenerated."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from summarizer_testing import thread_event

from figsync_contracts import BudgetExceeded, JobFailed
from figsync_runtime.steps import Ack, Redeliver
from figsync_summarizer.handlers import budget_stream_id, month_bounds

pytestmark = pytest.mark.integration

ROUTE = "POST /v1/messages"


async def test_crossing_the_budget_switches_to_fallback_and_says_so_once(harness):
    first_alone = await harness.run(thread_event("Please align the icons."))
    # A budget the first summary already used up, almost: the next AI summary crosses it.
    await harness.teams.change(
        "default", {"ai_monthly_budget_usd": first_alone.cost_usd + Decimal("0.0000001")}
    )
    crossing = await harness.run()
    after = [await harness.run(thread_event(f"Please fix thing {i}.")) for i in range(3)]

    assert crossing.source == "ai"
    assert [s.source for s in after] == ["fallback"] * 3
    assert {s.fallback_reason for s in after} == {"budget_exceeded"}
    assert len(harness.answered()) == 2  # no calls once the budget is spent
    [exceeded] = await harness.events_of_type(BudgetExceeded.type)
    month, _, _ = month_bounds(harness.runner.clock.now())
    assert exceeded.stream_id == budget_stream_id("default", month)
    event = BudgetExceeded.model_validate(exceeded.data)
    assert event.month == month
    assert event.spent_usd == first_alone.cost_usd + crossing.cost_usd
    assert event.spent_usd >= event.budget_usd
    assert exceeded.metadata["team"] == "default"


async def test_a_budget_already_spent_emits_budget_exceeded_once_across_concurrent_jobs(harness):
    await harness.teams.change("default", {"ai_monthly_budget_usd": Decimal("0")})
    summaries = await asyncio.gather(
        *(harness.run(thread_event(f"Please update screen {i}.")) for i in range(6))
    )

    assert {s.source for s in summaries} == {"fallback"}
    assert harness.answered() == []
    assert len(await harness.events_of_type(BudgetExceeded.type)) == 1


async def test_budgets_are_per_team(harness, sandbox_api):
    await harness.teams.change("default", {"ai_monthly_budget_usd": Decimal("0")})
    await harness.teams.change("acme", {"name": "Acme"})
    spent_team = await harness.run(team="default")
    other_team = await harness.run(team="acme")

    assert spent_team.source == "fallback"
    assert other_team.source == "ai"


async def test_cache_hits_are_free_so_they_are_served_over_budget(harness):
    first = await harness.run()
    await harness.teams.change("default", {"ai_monthly_budget_usd": first.cost_usd})
    again = await harness.run()
    assert again.source == "cache"


async def test_a_rate_limit_is_waited_out_never_counted_and_the_summary_is_the_models(
    make_harness,
):
    harness = make_harness(ai_sdk_max_retries=0, ai_attempts=2)
    harness.sandbox.anthropic.faults.inject(ROUTE, status=429, retry_after=1, times=4)
    envelope = await harness.start_job()
    for delivery in range(1, 5):  # more deliveries than ai_attempts: waiting is no attempt
        decision = await harness.deliver(envelope, attempt=delivery)
        assert decision == Redeliver(1.0, "anthropic.rate_limited")
    assert await harness.deliver(envelope, attempt=5) == Ack("handled")
    summary = await harness.summary_of(envelope.subject)
    assert summary.source == "ai"
    assert harness.statuses() == [429] * 4 + [200]


@pytest.mark.parametrize("status", [529, 500, 503])
async def test_an_unavailable_api_is_retried_then_the_job_falls_back(make_harness, status):
    harness = make_harness(ai_sdk_max_retries=1, ai_attempts=2)
    harness.sandbox.anthropic.faults.inject(ROUTE, status=status)
    envelope = await harness.start_job()

    first = await harness.deliver(envelope, attempt=1)
    assert isinstance(first, Redeliver)  # the runtime redelivers after its delay
    assert harness.statuses() == [status, status]  # the SDK's own retry, within the delivery
    last = await harness.deliver(envelope, attempt=2)
    assert isinstance(last, Ack)

    summary = await harness.summary_of(envelope.subject)
    assert summary.source == "fallback"
    expected = {529: "anthropic.overloaded"}
    assert summary.fallback_reason == expected.get(status, "anthropic.server_error")
    assert harness.statuses() == [status] * 4  # 2 deliveries x (1 + 1 SDK retry), no more
    types = [e.type for e in await harness.store.read_stream(envelope.subject)]
    assert JobFailed.type not in types


async def test_with_the_default_settings_an_overloaded_api_still_ends_in_a_summary(harness):
    harness.sandbox.anthropic.faults.inject(ROUTE, status=529)
    summary = await harness.run()

    assert summary.source == "fallback"
    # ai_attempts deliveries, each with the SDK's max_retries: accounted, not stacked further.
    settings = harness.settings
    assert len(harness.statuses()) == settings.ai_attempts * (settings.ai_sdk_max_retries + 1)


async def test_a_passing_overload_is_absorbed_by_the_sdks_retry(harness):
    harness.sandbox.anthropic.faults.inject(ROUTE, status=529, times=1)
    summary = await harness.run()

    assert summary.source == "ai"
    assert harness.statuses() == [529, 200]


async def test_a_long_retry_after_is_not_slept_in_the_process_and_falls_back_at_once(harness):
    harness.sandbox.anthropic.faults.inject(ROUTE, status=429, retry_after=3600)
    started = time.monotonic()
    envelope = await harness.start_job()
    decision = await harness.deliver(envelope, attempt=1)

    assert isinstance(decision, Ack)
    assert time.monotonic() - started < 5
    assert harness.statuses() == [429]  # the SDK did not sleep an hour to retry
    summary = await harness.summary_of(envelope.subject)
    assert (summary.source, summary.fallback_reason) == ("fallback", "anthropic.rate_limited")


async def test_a_medium_retry_after_is_left_to_the_runtimes_redelivery(harness):
    harness.sandbox.anthropic.faults.inject(ROUTE, status=429, retry_after=30)
    envelope = await harness.start_job()
    decision = await harness.deliver(envelope, attempt=1)

    assert isinstance(decision, Redeliver)
    assert decision.delay >= 30
    assert harness.statuses() == [429]


async def test_timeouts_are_retried_then_fall_back(make_harness):
    harness = make_harness(ai_timeout_seconds=0.3, ai_sdk_max_retries=0, ai_attempts=2)
    harness.sandbox.anthropic.faults.inject(ROUTE, timeout=True, hang_seconds=2)
    summary = await harness.run()

    assert (summary.source, summary.fallback_reason) == ("fallback", "anthropic.timeout")


async def test_an_open_circuit_falls_back_without_calling(make_harness):
    harness = make_harness(circuit_failure_threshold=1, ai_attempts=1, ai_sdk_max_retries=0)
    harness.sandbox.anthropic.faults.inject(ROUTE, status=503)
    failed = await harness.run()
    harness.sandbox.anthropic.faults.clear()
    skipped = await harness.run(thread_event("Please change the colour."))

    assert failed.fallback_reason == "anthropic.server_error"
    assert (skipped.source, skipped.fallback_reason) == ("fallback", "anthropic.circuit_open")
    assert harness.statuses() == [503]


def test_rate_limit_headers_that_say_nothing_is_left_give_the_wait_until_the_refill():
    from datetime import UTC, datetime

    from figsync_summarizer.adapters.anthropic_api import exhausted_for

    now = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
    assert exhausted_for({}, now) is None
    plenty = {
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-12-02T12:00:30Z",
    }
    assert exhausted_for(plenty, now) is None
    spent = {
        **plenty,
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-12-02T12:00:12Z",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": "not a time",
    }
    assert exhausted_for(spent, now) == 12.0
