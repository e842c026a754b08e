"""Reads of the views (the query side of the API). Every read is scoped to one team."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from figsync_projector.filters import JobFilter, handle
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
        self, team: str, filters: JobFilter, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where, args = _where(team, filters)
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

    async def each_job(
        self, team: str, filters: JobFilter, limit: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching job (or the first `limit`), newest first, read in chunks."""
        where, args = _where(team, filters)
        query = f"SELECT {_JOB_SELECT} FROM {S}.jobs WHERE {where} ORDER BY created_at DESC, job_id"
        if limit:
            query += f" LIMIT {int(limit)}"
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            async for row in conn.cursor(query, *args, prefetch=500):
                yield dict(row)

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

    async def story(self, team: str, job_id: str) -> dict[str, Any]:
        """What the job page tells beyond the row: thread, summary, file link, trace id."""
        row = await self.pool.fetchrow(
            f"""SELECT trace_id, file_url, thread::text AS thread, summary::text AS summary
                FROM {S}.job_stories WHERE team = $1 AND job_id = $2""",
            team,
            job_id,
        )
        if row is None:
            return {"trace_id": None, "file_url": None, "thread": [], "summary": None}
        return {"trace_id": row["trace_id"], "file_url": row["file_url"],
                "thread": [_times(c) for c in json.loads(row["thread"] or "[]")],
                "summary": json.loads(row["summary"]) if row["summary"] else None}  # fmt: skip

    async def month_cost(self, team: str, day: date) -> Decimal:
        cost = await self.pool.fetchval(
            f"SELECT cost_usd FROM {S}.costs WHERE team = $1 AND month = $2",
            team,
            f"{day.year:04d}-{day.month:02d}",
        )
        return cost or Decimal(0)

    async def outcomes(self, team: str, since: date, until: date) -> list[dict[str, Any]]:
        """Jobs created per UTC day by where they stand now; the parts add up to `jobs`."""
        rows = await self.pool.fetch(
            f"""SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS jobs,
                   count(*) FILTER (WHERE status = 'completed') AS completed,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'ignored') AS ignored,
                   count(*) FILTER (WHERE status <> ALL($4::text[])) AS open
                FROM {S}.jobs WHERE team = $1 AND created_at >= $2 AND created_at < $3
                GROUP BY 1 ORDER BY 1""",
            team,
            _midnight(since),
            _midnight(until + timedelta(days=1)),
            sorted(TERMINAL),
        )
        return [dict(r) for r in rows]

    async def processing(self, team: str, since: date, until: date) -> list[dict[str, Any]]:
        """Processing time of the jobs completed per UTC day: p50 and p95 in ms."""
        rows = await self.pool.fetch(
            f"""SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, count(*) AS jobs,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY processing_ms) AS p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY processing_ms) AS p95
                FROM {S}.jobs WHERE team = $1 AND finished_at >= $2 AND finished_at < $3
                    AND status = 'completed' AND processing_ms IS NOT NULL
                GROUP BY 1 ORDER BY 1""",
            team,
            _midnight(since),
            _midnight(until + timedelta(days=1)),
        )
        return [dict(r) for r in rows]

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
        """AI cost per month, newest first, each with its models, dearest first."""
        rows = await self.pool.fetch(
            f"""SELECT month, cost_usd, summaries, ai_summaries, input_tokens, output_tokens,
                       budget_exceeded, previews
                FROM {S}.costs WHERE team = $1 ORDER BY month DESC""",
            team,
        )
        models: dict[str, list[dict[str, Any]]] = {}
        for row in await self.pool.fetch(
            f"""SELECT month, model, cost_usd, summaries, ai_summaries, previews, input_tokens,
                       output_tokens
                FROM {S}.model_costs WHERE team = $1 ORDER BY month DESC, cost_usd DESC, model""",
            team,
        ):
            models.setdefault(row["month"], []).append(dict(row))
        return [{**dict(r), "models": models.get(r["month"], [])} for r in rows]

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


def _times(comment: dict[str, Any]) -> dict[str, Any]:
    for key in ("created_at", "resolved_at"):
        if comment.get(key):
            comment[key] = datetime.fromisoformat(comment[key])
    return comment


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _where(team: str, f: JobFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a filter; each expression is one an index of migration 0011 has."""
    clauses, args = ["team = $1"], [team]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.status:
        clauses.append(f"status = ANY({arg(list(f.status))}::text[])")
    if f.file:
        p = arg(f.file)
        clauses.append(f"(file_key = {p} OR lower(file_name) = lower({p}))")
    if f.author:
        clauses.append(f"replace(lower(author), '@', '') = {arg(handle(f.author))}")
    if f.mention:
        clauses.append(
            "string_to_array(replace(lower(mention), '@', ''), ', ') @> "
            f"ARRAY[{arg(handle(f.mention))}::text]"
        )
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(
            f"(coalesce(title, '') || ' ' || coalesce(comment_text, '')) ILIKE {arg(pattern)}"
        )
    if f.error_code:
        clauses.append(f"error_code = {arg(f.error_code)}")
    if f.since:
        clauses.append(f"created_at >= {arg(_midnight(f.since))}")
    if f.until:
        clauses.append(f"created_at < {arg(_midnight(f.until + timedelta(days=1)))}")
    return " AND ".join(clauses), args
