"""The projection on Postgres: applies the store's events, in global order, to the views.

Each batch runs in one transaction that locks the checkpoint, reads the events after it, writes
their effect on the views and moves the checkpoint: a batch is applied entirely or not at all,
so a crash anywhere in it applies no event twice and skips none. The views and their checkpoint
live together in one schema, which is what lets a rebuild fill a fresh schema and swap it in
with a rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from figsync_eventstore import PostgresEventStore, RecordedEvent
from figsync_eventstore.personal import ERASED
from figsync_eventstore.store import NOTIFY_CHANNEL
from figsync_projector.fold import (
    JOB_COLUMNS,
    PERSONAL_DETAILS,
    Delta,
    JobRow,
    fold,
    is_job_stream,
)

log = structlog.get_logger("figsync.projector")

LIVE_SCHEMA = "projections"
REBUILD_SCHEMA = "projections_rebuild"
OLD_SCHEMA = "projections_old"
# Channel on which a committed batch names the teams whose jobs changed (for SSE).
CHANGES_CHANNEL = "figsync_projections"

# Taken (transaction-scoped) by every live batch and by the rebuild's swap, so the swap never
# renames the schema under a batch in flight (which would deadlock on the dropped tables).
_APPLY_LOCK = 7_351_402_121
# Only one projector applies at a time; standbys wait on this session lock.
_LEADER_LOCK = 7_351_402_122
# Only one rebuild at a time.
_REBUILD_LOCK = 7_351_402_123

APPLIED = Counter("figsync_projector_events_total", "Events applied to the views")
POSITION = Gauge("figsync_projector_position", "Global position of the last applied event")
FINISHED = Counter(
    "figsync_jobs_finished_total",
    "Jobs that reached an outcome (completed, failed, ignored), counted by the projector's leader"
    " once the batch that finished them is committed.",
    ["outcome"],
)

_JOB_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "text", "int", "text", "text", "timestamptz", "numeric", "timestamptz", "timestamptz",
    "timestamptz", "bigint", "int", "bigint", "text",
)  # fmt: skip
assert len(_JOB_TYPES) == len(JOB_COLUMNS)

Fault = Callable[[Delta], None]
Prefetched = tuple[int, list[RecordedEvent]]


class Projection:
    """Applies batches of events to the views in one schema."""

    def __init__(
        self,
        store: PostgresEventStore,
        schema: str = LIVE_SCHEMA,
        *,
        notify: bool = True,
        fault: Fault | None = None,
    ) -> None:
        self.store = store
        self.schema = schema
        self.notify = notify
        self.fault = fault
        self.last_delta: Delta | None = None
        s = schema
        columns = ", ".join(JOB_COLUMNS)
        unnest = ", ".join(f"${n}::{t}[]" for n, t in enumerate(_JOB_TYPES, 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in JOB_COLUMNS[1:])
        self._load_sql = f"SELECT {columns} FROM {s}.jobs WHERE job_id = ANY($1::text[])"
        self._jobs_sql = (
            f"INSERT INTO {s}.jobs ({columns}) SELECT * FROM unnest({unnest}) "
            f"ON CONFLICT (job_id) DO UPDATE SET {updates}"
        )
        self._daily_sql = f"""
            INSERT INTO {s}.daily_metrics AS m (team, day, jobs, successful, failed, ignored,
                processing_ms_sum, processing_count, figma_calls, notion_calls, ai_calls, cost_usd)
            SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::int[], $5::int[],
                $6::int[], $7::bigint[], $8::int[], $9::int[], $10::int[], $11::int[],
                $12::numeric[])
            ON CONFLICT (team, day) DO UPDATE SET
                jobs = m.jobs + excluded.jobs, successful = m.successful + excluded.successful,
                failed = m.failed + excluded.failed, ignored = m.ignored + excluded.ignored,
                processing_ms_sum = m.processing_ms_sum + excluded.processing_ms_sum,
                processing_count = m.processing_count + excluded.processing_count,
                figma_calls = m.figma_calls + excluded.figma_calls,
                notion_calls = m.notion_calls + excluded.notion_calls,
                ai_calls = m.ai_calls + excluded.ai_calls,
                cost_usd = m.cost_usd + excluded.cost_usd"""
        self._errors_sql = f"""
            INSERT INTO {s}.errors AS e (team, code, count, step, first_seen, last_seen,
                last_message, last_job_id)
            SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[],
                $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[])
            ON CONFLICT (team, code) DO UPDATE SET
                count = e.count + excluded.count, step = excluded.step,
                last_seen = excluded.last_seen, last_message = excluded.last_message,
                last_job_id = excluded.last_job_id"""
        self._costs_sql = f"""
            INSERT INTO {s}.costs AS c (team, month, cost_usd, summaries, ai_summaries,
                input_tokens, output_tokens, budget_exceeded, previews)
            SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::int[], $5::int[],
                $6::bigint[], $7::bigint[], $8::bool[], $9::int[])
            ON CONFLICT (team, month) DO UPDATE SET
                cost_usd = c.cost_usd + excluded.cost_usd,
                summaries = c.summaries + excluded.summaries,
                ai_summaries = c.ai_summaries + excluded.ai_summaries,
                input_tokens = c.input_tokens + excluded.input_tokens,
                output_tokens = c.output_tokens + excluded.output_tokens,
                budget_exceeded = c.budget_exceeded OR excluded.budget_exceeded,
                previews = c.previews + excluded.previews"""
        self._model_costs_sql = f"""
            INSERT INTO {s}.model_costs AS c (team, month, model, cost_usd, summaries,
                ai_summaries, previews, input_tokens, output_tokens)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::int[],
                $6::int[], $7::int[], $8::bigint[], $9::bigint[])
            ON CONFLICT (team, month, model) DO UPDATE SET
                cost_usd = c.cost_usd + excluded.cost_usd,
                summaries = c.summaries + excluded.summaries,
                ai_summaries = c.ai_summaries + excluded.ai_summaries,
                previews = c.previews + excluded.previews,
                input_tokens = c.input_tokens + excluded.input_tokens,
                output_tokens = c.output_tokens + excluded.output_tokens"""
        self._stories_sql = f"""
            INSERT INTO {s}.job_stories AS s (job_id, team, trace_id, file_url, thread, summary)
            SELECT j, t, tr, u, th::jsonb, su::jsonb
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                AS x (j, t, tr, u, th, su)
            ON CONFLICT (job_id) DO UPDATE SET
                trace_id = coalesce(s.trace_id, excluded.trace_id),
                file_url = coalesce(excluded.file_url, s.file_url),
                thread = coalesce(excluded.thread, s.thread),
                summary = coalesce(excluded.summary, s.summary)"""
        self._teams_sql = f"""
            INSERT INTO {s}.teams AS t (team, first_seen, last_position)
            SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[])
            ON CONFLICT (team) DO UPDATE SET last_position = excluded.last_position"""

    async def position(self) -> int:
        async with self.store.pool.acquire() as conn:
            return await conn.fetchval(f"SELECT position FROM {self.schema}.checkpoint")

    async def apply_batch(
        self, limit: int = 500, *, lock: bool = True, prefetched: Prefetched | None = None
    ) -> int:
        """Apply up to `limit` events after the checkpoint; returns how many were applied."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            return await self.apply_in(conn, limit, lock=lock, prefetched=prefetched)

    async def apply_in(
        self,
        conn: asyncpg.Connection,
        limit: int,
        *,
        lock: bool = True,
        prefetched: Prefetched | None = None,
    ) -> int:
        """Apply one batch inside the caller's transaction. `prefetched` = (after, events read
        after it) is used only if `after` is still the checkpoint."""
        if lock:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPLY_LOCK)
        after = await conn.fetchval(f"SELECT position FROM {self.schema}.checkpoint FOR UPDATE")
        if prefetched is not None and prefetched[0] == after:
            events = prefetched[1][:limit]
        else:
            events = await self.store.read_all(after=after, limit=limit)
        if not events:
            return 0
        wanted = list({e.stream_id for e in events if is_job_stream(e.stream_id)})
        loaded = {}
        if wanted:
            for row in await conn.fetch(self._load_sql, wanted):
                loaded[row[0]] = JobRow(*row.values())
        delta = fold(events, loaded)
        await self._write(conn, delta)
        self.last_delta = delta
        if self.fault:
            self.fault(delta)
        return len(events)

    async def _write(self, conn: asyncpg.Connection, delta: Delta) -> None:
        s = self.schema
        if delta.jobs:
            rows = [job.as_tuple() for job in delta.jobs.values()]
            await conn.execute(self._jobs_sql, *(list(c) for c in zip(*rows, strict=True)))
        if delta.timeline:
            await conn.copy_records_to_table(
                "job_events",
                schema_name=s,
                records=delta.timeline,
                columns=["position", "job_id", "team", "version", "type", "detail", "recorded_at"],
            )
        if delta.daily:
            await conn.execute(
                self._daily_sql,
                *_columns(
                    (team, day, d.jobs, d.successful, d.failed, d.ignored, d.processing_ms_sum,
                     d.processing_count, d.figma_calls, d.notion_calls, d.ai_calls, d.cost_usd)
                    for (team, day), d in delta.daily.items()
                ),
            )  # fmt: skip
        if delta.errors:
            await conn.execute(
                self._errors_sql,
                *_columns(
                    (team, code, e.count, e.step, e.first_seen, e.last_seen, e.last_message,
                     e.last_job_id)
                    for (team, code), e in delta.errors.items()
                ),
            )  # fmt: skip
        if delta.costs:
            await conn.execute(
                self._costs_sql,
                *_columns(
                    (team, month, c.cost_usd, c.summaries, c.ai_summaries, c.input_tokens,
                     c.output_tokens, c.budget_exceeded, c.previews)
                    for (team, month), c in delta.costs.items()
                ),
            )  # fmt: skip
        if delta.model_costs:
            await conn.execute(
                self._model_costs_sql,
                *_columns(
                    (team, month, model, c.cost_usd, c.summaries, c.ai_summaries, c.previews,
                     c.input_tokens, c.output_tokens)
                    for (team, month, model), c in delta.model_costs.items()
                ),
            )  # fmt: skip
        if delta.stories:
            await conn.execute(
                self._stories_sql,
                *_columns(
                    (job, st["team"], st.get("trace_id"), st.get("file_url"),
                     _json(st.get("thread")), _json(st.get("summary")))
                    for job, st in delta.stories.items()
                ),
            )  # fmt: skip
        if delta.erased:
            await self._scrub(conn, sorted(delta.erased))
        if delta.teams:
            await conn.execute(
                self._teams_sql,
                *_columns((team, at, pos) for team, (at, pos) in delta.teams.items()),
            )
        await conn.execute(
            f"UPDATE {s}.checkpoint SET position = $1, updated_at = now()", delta.last_position
        )
        changed = sorted({job.team for job in delta.jobs.values() if job.team})
        if self.notify and changed:
            await conn.execute(
                "SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t", CHANGES_CHANNEL, changed
            )

    async def _scrub(self, conn: asyncpg.Connection, jobs: list[str]) -> None:
        """Erased jobs: what their rows hold of people goes (the rows and counts stay)."""
        s = self.schema
        await conn.execute(
            f"UPDATE {s}.job_stories SET thread = '[]'::jsonb, summary = NULL WHERE job_id = ANY($1)",
            jobs,
        )
        await conn.execute(
            f"""UPDATE {s}.job_events
                SET detail = ((detail::jsonb - $2::text[]) || '{{"erased": true}}')::json
                WHERE job_id = ANY($1)""",
            jobs, list(PERSONAL_DETAILS),
        )  # fmt: skip
        await conn.execute(
            f"UPDATE {s}.errors SET last_message = $2 WHERE last_job_id = ANY($1)", jobs, ERASED
        )


def count_finished(delta: Delta | None) -> None:
    """Count the jobs a committed batch finished, by outcome (the job failure rate alert)."""
    for daily in delta.daily.values() if delta else ():
        FINISHED.labels("completed").inc(daily.successful)
        FINISHED.labels("failed").inc(daily.failed)
        FINISHED.labels("ignored").inc(daily.ignored)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _columns(rows) -> list[list]:
    materialized = list(rows)
    return [list(column) for column in zip(*materialized, strict=True)]


@dataclass
class Projector:
    """The live projector: one leader applies batches, woken by the store's NOTIFY."""

    projection: Projection
    database_url: str
    batch_size: int = 500
    poll_interval_seconds: float = 1.0
    standby_interval_seconds: float = 1.0
    retry_backoff_seconds: float = 1.0
    is_leader: bool = False

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for leadership, then apply until `stop` is set or leadership is lost."""
        while not stop.is_set():
            try:
                leader = await asyncpg.connect(self.database_url)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("projector cannot reach postgres", error=str(error))
                await _sleep_or_stop(stop, self.retry_backoff_seconds)
                continue
            try:
                if await leader.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                    self.is_leader = True
                    log.info("projector is the leader")
                    await self._lead(leader, stop)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("projector lost postgres", error=str(error))
            finally:
                self.is_leader = False
                with contextlib.suppress(Exception):
                    await leader.close()
            await _sleep_or_stop(stop, self.standby_interval_seconds)

    async def _lead(self, leader: asyncpg.Connection, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        await leader.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        while not stop.is_set() and not leader.is_closed():
            wake.clear()
            try:
                applied = await self.projection.apply_batch(self.batch_size)
            except (asyncpg.PostgresConnectionError, OSError, ConnectionError) as error:
                log.warning("projector lost postgres", error=str(error))
                return
            except Exception:
                log.exception("projector batch failed; will retry")
                await _sleep_or_stop(stop, self.retry_backoff_seconds)
                continue
            if applied:
                APPLIED.inc(applied)
                count_finished(self.projection.last_delta)
                POSITION.set(await self.projection.position())
            if applied < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval_seconds):
                        await wake.wait()


@dataclass(frozen=True)
class RebuildResult:
    events: int
    position: int
    seconds: float


class RebuildRunning(RuntimeError):
    """Another rebuild holds the rebuild lock."""


async def rebuild(
    store: PostgresEventStore,
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Build the views afresh in a new schema, then swap it in atomically (readers keep
    reading the old tables until the swap commits, then the new ones)."""
    started = time.perf_counter()
    guard = await store.pool.acquire()
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", _REBUILD_LOCK):
            raise RebuildRunning("projections.rebuild_running: another rebuild is running")
        try:
            return await _rebuild(store, guard, batch_size, progress, started)
        finally:
            await guard.execute("SELECT pg_advisory_unlock($1)", _REBUILD_LOCK)
    finally:
        await store.pool.release(guard)


# Tables whose keys are no conflict target: their indexes are built after the bulk load.
_LOAD_FIRST = frozenset({"job_events"})


async def _rebuild(store, conn, batch_size, progress, started) -> RebuildResult:
    await conn.execute(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE")
    await conn.execute(f"DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE")
    await conn.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
    tables = [r[0] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", LIVE_SCHEMA
    )]  # fmt: skip
    for table in tables:
        await conn.execute(
            f"CREATE TABLE {REBUILD_SCHEMA}.{table} "
            f"(LIKE {LIVE_SCHEMA}.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    # Keys that upserts need come first; every other index after the load (much faster).
    keys = await conn.fetch(
        """SELECT t.relname AS tablename, c.conname, pg_get_constraintdef(c.oid) AS definition,
                  c.conindid
           FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = $1 AND c.contype IN ('p', 'u')""",
        LIVE_SCHEMA,
    )
    indexes = await conn.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1",
        LIVE_SCHEMA,
    )
    key_index_names = {k["conname"] for k in keys}
    for key in keys:
        if key["tablename"] not in _LOAD_FIRST:
            await _add_key(conn, key)
    await conn.execute(f"INSERT INTO {REBUILD_SCHEMA}.checkpoint DEFAULT VALUES")

    projection = Projection(store, REBUILD_SCHEMA, notify=False)
    total = await store.last_position()
    done = after = 0
    ahead = asyncio.create_task(store.read_all(after, batch_size))
    try:
        while events := await ahead:
            # Read the next batch while this one is folded and written.
            ahead = asyncio.create_task(store.read_all(events[-1].position, batch_size))
            done += await projection.apply_batch(batch_size, lock=False, prefetched=(after, events))
            after = events[-1].position
            if progress:
                progress(done, max(total, done))
    finally:
        ahead.cancel()
        with contextlib.suppress(BaseException):
            await ahead
    for key in keys:
        if key["tablename"] in _LOAD_FIRST:
            await _add_key(conn, key)
    for index in indexes:
        if index["indexname"] not in key_index_names:
            await conn.execute(
                index["indexdef"].replace(f" ON {LIVE_SCHEMA}.", f" ON {REBUILD_SCHEMA}.", 1)
            )
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPLY_LOCK)
        while (applied := await projection.apply_in(conn, batch_size, lock=False)) > 0:
            done += applied
        position = await conn.fetchval(f"SELECT position FROM {REBUILD_SCHEMA}.checkpoint")
        await conn.execute(f"ALTER SCHEMA {LIVE_SCHEMA} RENAME TO {OLD_SCHEMA}")
        await conn.execute(f"ALTER SCHEMA {REBUILD_SCHEMA} RENAME TO {LIVE_SCHEMA}")
    if progress:
        progress(done, done)
    await conn.execute(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE")
    return RebuildResult(done, position, time.perf_counter() - started)


async def _add_key(conn: asyncpg.Connection, key: asyncpg.Record) -> None:
    await conn.execute(
        f"ALTER TABLE {REBUILD_SCHEMA}.{key['tablename']} "
        f"ADD CONSTRAINT {key['conname']} {key['definition']}"
    )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
