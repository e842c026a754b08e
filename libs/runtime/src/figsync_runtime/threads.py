"""Tracked threads: which job owns a Figma thread's task, and which files reconcile when.

A thread is tracked once a job has rebuilt it for a task (first come wins, like comment
claims); later comments in it update that task instead of making another. The rows live in
Postgres (`tracked_threads`, `reconcile_cursors`) so every replica sees the same owners.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class TrackedThread:
    team: str
    file_key: str
    root_comment_id: str
    job_id: str
    open: bool


class ThreadRegistry:
    """Owners of tracked threads and the reconcile schedule, shared by all replicas."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, team: str, file_key: str, root_id: str, job_id: str) -> str:
        """Make `job_id` the thread's owner unless it has one; returns the owner."""
        async with self.pool.acquire() as conn:
            owner = await conn.fetchval(
                """INSERT INTO tracked_threads (team, file_key, root_comment_id, job_id)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING job_id""",
                team, file_key, root_id, job_id,
            )  # fmt: skip
            if owner is None:
                owner = await conn.fetchval(
                    """SELECT job_id FROM tracked_threads
                       WHERE team = $1 AND file_key = $2 AND root_comment_id = $3""",
                    team, file_key, root_id,
                )  # fmt: skip
        return str(owner)

    async def owner(self, team: str, file_key: str, root_id: str) -> str | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(
                """SELECT job_id FROM tracked_threads
                   WHERE team = $1 AND file_key = $2 AND root_comment_id = $3""",
                team, file_key, root_id,
            )  # fmt: skip

    async def threads_of(self, team: str, file_key: str) -> list[TrackedThread]:
        """The file's tracked threads, open or not."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM tracked_threads WHERE team = $1 AND file_key = $2", team, file_key
            )
        return [TrackedThread(**dict(r)) for r in _without_created(rows)]

    async def of_job(self, job_id: str) -> TrackedThread | None:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM tracked_threads WHERE job_id = $1", job_id)
        found = [TrackedThread(**dict(r)) for r in _without_created(rows)]
        return found[0] if found else None

    async def has_open(self, team: str, file_key: str) -> bool:
        async with self.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM tracked_threads "
                    "WHERE team = $1 AND file_key = $2 AND open)",
                    team,
                    file_key,
                )  # fmt: skip
            )

    async def files_with_open_threads(self, team: str) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT file_key FROM tracked_threads WHERE team = $1 AND open "
                "ORDER BY file_key",
                team,
            )
        return [r["file_key"] for r in rows]

    async def set_open(self, job_id: str, open_: bool) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE tracked_threads SET open = $2 WHERE job_id = $1", job_id, open_
            )

    async def take_file(self, team: str, file_key: str, interval_seconds: float) -> bool:
        """Whether this caller reconciles the file now: true for one caller per interval,
        whichever replica asks first (one conditional statement decides)."""
        async with self.pool.acquire() as conn:
            taken = await conn.fetchval(
                """INSERT INTO reconcile_cursors AS c (team, file_key, reconciled_at)
                   VALUES ($1, $2, now())
                   ON CONFLICT (team, file_key) DO UPDATE SET reconciled_at = now()
                   WHERE c.reconciled_at <= now() - make_interval(secs => $3)
                   RETURNING true""",
                team, file_key, float(interval_seconds),
            )  # fmt: skip
        return bool(taken)


def _without_created(rows: list[asyncpg.Record]) -> list[dict[str, object]]:
    return [{k: v for k, v in dict(r).items() if k != "created_at"} for r in rows]
