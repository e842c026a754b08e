"""What the projector exports for the alerting rules: jobs finished by outcome, each team's AI
spend next to its budget, and deferred jobs that did not resume."""

from datetime import UTC, datetime, timedelta

import pytest
from projector_histories import append, comment, failed, resolved, summary, task
from prometheus_client import REGISTRY, generate_latest

from figsync_contracts import (
    ConfirmationPosted,
    JobDeferred,
    JobIgnored,
    TeamSettingsChanged,
    team_stream_id,
)
from figsync_projector.gauges import ViewGauges
from figsync_projector.projection import Projection, count_finished
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration


def finished(outcome: str) -> float:
    return REGISTRY.get_sample_value("figsync_jobs_finished_total", {"outcome": outcome}) or 0.0


async def test_each_committed_batch_counts_the_jobs_it_finished_by_outcome(event_store):
    before = {o: finished(o) for o in ("completed", "failed", "ignored")}
    done, broken, skipped = (f"0b4f9e65-2222-4a0c-9d3e-00000000000{n}" for n in (1, 2, 3))
    await append(event_store, done, comment(), resolved(), summary(), task(done))
    await append(event_store, done, ConfirmationPosted(comment_id="r1"))
    await append(event_store, broken, comment(comment_id="c2"), failed("figma", "figma.down"))
    await append(event_store, skipped, comment(comment_id="c3"))
    await append(event_store, skipped, JobIgnored(reason="mention_not_tracked"))
    projection = Projection(event_store)

    assert await projection.apply_batch(100) > 0
    count_finished(projection.last_delta)

    assert {o: finished(o) - before[o] for o in before} == {
        "completed": 1,
        "failed": 1,
        "ignored": 1,
    }
    assert b"figsync_jobs_finished_total" in generate_latest(REGISTRY)


async def test_gauges_show_ai_spend_against_budget_and_overdue_deferred_jobs(event_store, pg_pool):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await append(
        event_store,
        team_stream_id("acme"),
        TeamSettingsChanged(changes={"ai_monthly_budget_usd": "2.50"}),
    )
    job = "0b4f9e65-3333-4a0c-9d3e-000000000001"
    await append(event_store, job, comment(), resolved(), summary(cost="2.0000"))
    stuck = "0b4f9e65-3333-4a0c-9d3e-000000000002"
    due = datetime.now(UTC) - timedelta(minutes=20)
    await append(event_store, stuck, comment(comment_id="c9"))
    await append(
        event_store,
        stuck,
        JobDeferred(step="figma", code="figma.budget_exhausted", until=due, attempts=1),
    )
    await Projection(event_store).apply_batch(100)

    await ViewGauges(pg_pool, teams).refresh()

    sample = REGISTRY.get_sample_value
    assert sample("figsync_team_ai_cost_usd", {"team": "acme"}) == pytest.approx(2.0)
    assert sample("figsync_team_ai_budget_usd", {"team": "acme"}) == pytest.approx(2.5)
    assert sample("figsync_jobs_deferred_overdue") == 1
    assert 19 * 60 < sample("figsync_jobs_deferred_overdue_seconds") < 21 * 60


async def test_a_team_whose_budget_is_removed_leaves_the_budget_gauge(event_store, pg_pool):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    stream = team_stream_id("globex")
    await append(
        event_store,
        stream,
        TeamSettingsChanged(changes={"ai_monthly_budget_usd": "5"}),
        team="globex",
    )
    await Projection(event_store).apply_batch(100)
    gauges = ViewGauges(pg_pool, teams)
    await gauges.refresh()
    assert REGISTRY.get_sample_value("figsync_team_ai_budget_usd", {"team": "globex"}) == 5

    await append(
        event_store,
        stream,
        TeamSettingsChanged(changes={"ai_monthly_budget_usd": None}),
        team="globex",
    )
    await gauges.refresh()

    assert REGISTRY.get_sample_value("figsync_team_ai_budget_usd", {"team": "globex"}) is None
    assert REGISTRY.get_sample_value("figsync_jobs_deferred_overdue") == 0
