"""Reads of the views (the query side of the API). Every read is scoped to one team."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from figsync_projector.fold import JOB_COLUMNS, TERMINAL
from figsync_projector.projection import LIVE_SCHEMA

S = LIVE_SCHEMA
_JOB_SELECT = ", ".join(JOB_COLUMNS)


class Views:
    """Queries over projections.* for the read API."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def team_exists(self, team: str) -> bool:
        return bool(await self.pool.fetchval(f"SELECT 1 FROM {S}.teams WHERE team = $1", team))

    async def stats(self, team: str, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        since = now - timedelta(days=30)
        row = await self.pool.fetchrow(
            f"""SELECT count(*) AS total,
                   count(*) FILTER (WHERE status = 'completed') AS successful,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'ignored') AS ignored,
                   count(*) FILTER (WHERE status = 'deferred') AS deferred,
                   count(*) FILTER (WHERE status <> ALL($3::text[])) AS in_progress,
                   avg(processing_ms) FILTER (WHERE status = 'completed') AS avg_ms
                FROM {S}.jobs WHERE team = $1 AND created_at >= $2""",
            team,
            since,
            sorted(TERMINAL | {"deferred"}),
        )
        cost = await self.pool.fetchval(
            f"SELECT cost_usd FROM {S}.costs WHERE team = $1 AND month = $2",
            team,
            f"{now.year:04d}-{now.month:02d}",
        )
        finished = row["successful"] + row["failed"]
        return {
            "team": team,
            "since": since,
            "total": row["total"],
            "successful": row["successful"],
            "failed": row["failed"],
            "ignored": row["ignored"],
            "deferred": row["deferred"],
            "in_progress": row["in_progress"],
            "success_rate": (row["successful"] / finished) if finished else None,
            "avg_processing_ms": float(row["avg_ms"]) if row["avg_ms"] is not None else None,
            "cost_this_month_usd": cost or Decimal(0),
        }

    async def jobs(
        self, team: str, status: list[str] | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = "team = $1" + (" AND status = ANY($2::text[])" if status else "")
        args: list[Any] = [team, status] if status else [team]
        total = await self.pool.fetchval(f"SELECT count(*) FROM {S}.jobs WHERE {where}", *args)
        n = len(args)
        rows = await self.pool.fetch(
            f"""SELECT {_JOB_SELECT} FROM {S}.jobs WHERE {where}
                ORDER BY created_at DESC, job_id LIMIT ${n + 1} OFFSET ${n + 2}""",
            *args,
            limit,
            offset,
        )
        return [dict(r) for r in rows], total

    async def job(self, team: str, job_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            f"SELECT {_JOB_SELECT} FROM {S}.jobs WHERE team = $1 AND job_id = $2", team, job_id
        )
        return dict(row) if row else None

    async def timeline(self, team: str, job_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT position, version, type, detail, recorded_at FROM {S}.job_events
                WHERE job_id = $1 AND team = $2 ORDER BY position""",
            job_id,
            team,
        )
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    async def daily(self, team: str, since: date, until: date) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT day, jobs, successful, failed, ignored, figma_calls, notion_calls,
                       ai_calls, cost_usd,
                       CASE WHEN processing_count > 0
                            THEN processing_ms_sum::float8 / processing_count END
                           AS avg_processing_ms
                FROM {S}.daily_metrics WHERE team = $1 AND day BETWEEN $2 AND $3
                ORDER BY day""",
            team,
            since,
            until,
        )
        return [dict(r) for r in rows]

    async def errors(self, team: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT code, count, step, first_seen, last_seen, last_message, last_job_id
                FROM {S}.errors WHERE team = $1 ORDER BY count DESC, code""",
            team,
        )
        return [dict(r) for r in rows]

    async def costs(self, team: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT month, cost_usd, summaries, ai_summaries, input_tokens, output_tokens,
                       budget_exceeded
                FROM {S}.costs WHERE team = $1 ORDER BY month DESC""",
            team,
        )
        return [dict(r) for r in rows]

    async def changed_jobs(self, team: str, after: int, limit: int) -> list[dict[str, Any]]:
        """Jobs of a team whose last applied event is after `after`, oldest change first."""
        rows = await self.pool.fetch(
            f"""SELECT {_JOB_SELECT} FROM {S}.jobs WHERE team = $1 AND last_position > $2
                ORDER BY last_position LIMIT $3""",
            team,
            after,
            limit,
        )
        return [dict(r) for r in rows]

    async def team_position(self, team: str) -> int:
        return await self.pool.fetchval(
            f"SELECT coalesce(max(last_position), 0) FROM {S}.jobs WHERE team = $1", team
        )
