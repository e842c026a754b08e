"""The summary cache and the monthly AI spend, in Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from figsync_contracts import SummaryGenerated, SummaryPreviewed, SummaryRefreshed
from figsync_summarizer.handlers import Attempted, Cached
from figsync_summarizer.summary import Summary


class SummaryCache:
    """Summaries by cache key, each kept `ttl_seconds`; an expired one is never returned."""

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float) -> None:
        self.pool = pool
        self.ttl = timedelta(seconds=ttl_seconds)

    async def get(self, key: str) -> Cached | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT summary, job_id, input_tokens, output_tokens, cost_usd
                   FROM summary_cache WHERE cache_key = $1 AND expires_at > now()""",
                key,
            )
        if row is None:
            return None
        attempted = Attempted(
            Summary.model_validate(row["summary"]), input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"], cost=row["cost_usd"],
        )  # fmt: skip
        return Cached(attempted, row["job_id"])

    async def put(
        self,
        key: str,
        *,
        team: str,
        model: str,
        prompt_version: str,
        attempted: Attempted,
        job_id: str | None = None,
    ) -> None:
        """Keep a summary and what writing it cost; `job_id` (the job it was written for) lets
        that job's next attempt know its own answer, and erasing the job drop it."""
        assert attempted.summary is not None
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO summary_cache (cache_key, team, model, prompt_version, summary,
                                              expires_at, job_id, input_tokens, output_tokens,
                                              cost_usd)
                   VALUES ($1, $2, $3, $4, $5, now() + $6::interval, $7, $8, $9, $10)
                   ON CONFLICT (cache_key) DO UPDATE
                   SET summary = $5, created_at = now(), expires_at = now() + $6::interval,
                       job_id = $7, input_tokens = $8, output_tokens = $9, cost_usd = $10""",
                key, team, model, prompt_version, attempted.summary.model_dump(mode="json"),
                self.ttl, job_id, attempted.input_tokens, attempted.output_tokens,
                attempted.cost,
            )  # fmt: skip

    async def purge_expired(self) -> int:
        async with self.pool.acquire() as conn:
            status = await conn.execute("DELETE FROM summary_cache WHERE expires_at <= now()")
        return int(status.split()[-1])


# What a team's AI spend is the sum of. Named in the query's text, not as a parameter, so the
# planner matches the partial index over exactly these types (migration 0015).
SPEND_TYPES = (SummaryGenerated.type, SummaryRefreshed.type, SummaryPreviewed.type)
_SPEND_SQL = f"""
    SELECT coalesce(sum((data->>'cost_usd')::numeric), 0) FROM events
    WHERE type IN ({", ".join(f"'{t}'" for t in SPEND_TYPES)})
      AND metadata->>'team' = $1 AND recorded_at >= $2 AND recorded_at < $3"""


class MonthlySpend:
    """What a team's model calls cost in a period, summed from its SummaryGenerated,
    SummaryRefreshed and SummaryPreviewed events."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def spent(self, team: str, start: datetime, end: datetime) -> Decimal:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(_SPEND_SQL, team, start, end)
        return Decimal(total)
