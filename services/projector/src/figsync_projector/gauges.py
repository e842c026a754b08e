"""Gauges read from the views for the alerting rules (deploy/k8s/components/monitoring): each
team's AI spend this month next to its monthly budget, and deferred jobs whose time to resume
has passed. Every projector replica refreshes them; the rules take the max across replicas."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import asyncpg
import structlog
from prometheus_client import Gauge

from figsync_runtime.teams import TeamRepository

log = structlog.get_logger("figsync.projector.gauges")

AI_COST = Gauge(
    "figsync_team_ai_cost_usd",
    "The team's AI spend this calendar month (UTC), from the costs view.",
    ["team"],
)
AI_BUDGET = Gauge(
    "figsync_team_ai_budget_usd",
    "The team's monthly AI budget (ai_monthly_budget_usd); teams without one are not listed.",
    ["team"],
)
DEFERRED_OVERDUE = Gauge(
    "figsync_jobs_deferred_overdue",
    "Deferred jobs still deferred more than a minute after their time to resume.",
)
DEFERRED_OVERDUE_SECONDS = Gauge(
    "figsync_jobs_deferred_overdue_seconds",
    "How long ago the longest-overdue deferred job was due to resume (0 when none is).",
)

# The resumer runs every few seconds: a job still deferred a minute after its time is stuck.
OVERDUE_GRACE_SECONDS = 60


class ViewGauges:
    """Refreshes the gauges from the views every `interval_seconds`."""

    def __init__(
        self, pool: asyncpg.Pool, teams: TeamRepository, interval_seconds: float = 30.0
    ) -> None:
        self.pool = pool
        self.teams = teams
        self.interval_seconds = interval_seconds
        self._labelled: dict[Gauge, set[str]] = {AI_COST: set(), AI_BUDGET: set()}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("cannot refresh the alerting gauges", error=str(error))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_seconds):
                    await stop.wait()

    async def refresh(self) -> None:
        costs = await self.pool.fetch(
            """SELECT team, cost_usd FROM projections.costs
               WHERE month = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')"""
        )
        self._set(AI_COST, {row["team"]: row["cost_usd"] for row in costs})
        budgets: dict[str, Decimal] = {}
        # The teams view, not TeamRepository.teams(): that one scans the event store.
        for team in await self.pool.fetchval("SELECT array_agg(team) FROM projections.teams") or []:
            settings = await self.teams.get(team)
            if settings is not None and settings.ai_monthly_budget_usd is not None:
                budgets[team] = settings.ai_monthly_budget_usd
        self._set(AI_BUDGET, budgets)
        overdue = await self.pool.fetchrow(
            """SELECT count(*) AS jobs,
                      coalesce(extract(epoch FROM now() - min(deferred_until)), 0)::float8 AS oldest
               FROM projections.jobs
               WHERE status = 'deferred' AND deferred_until < now() - make_interval(secs => $1)""",
            OVERDUE_GRACE_SECONDS,
        )
        DEFERRED_OVERDUE.set(overdue["jobs"])
        DEFERRED_OVERDUE_SECONDS.set(overdue["oldest"])

    def _set(self, gauge: Gauge, values: dict[str, Decimal]) -> None:
        for gone in self._labelled[gauge] - values.keys():
            gauge.remove(gone)
        for team, value in values.items():
            gauge.labels(team).set(float(value))
        self._labelled[gauge] = set(values)
