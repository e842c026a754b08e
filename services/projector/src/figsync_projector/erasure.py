"""The right to erasure and retention, in an append-only store: shred a job's key.

A job's personal fields are sealed with its key (figsync_eventstore.personal), so erasing the
job is: the key set to NULL, the copies outside the events dropped (the summary cache, a
file's cached comments, a parked relay error, a forwarding code's mailbox, the person index),
its thread no longer tracked, and a `JobErased` event (no personal data) appended, all in one
transaction with the audit record. The projector folds `JobErased` by scrubbing the job's
rows in its views; events folded later, and any rebuild or replay, read the fields as erased.
The events, their types, times, costs and counts stay.

`figsync erase --job JOB | --person EMAIL_OR_HANDLE` and the retention loop (each team's
`retention_days` after a job ends; default 30) both come here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import asyncpg
import structlog

from figsync_contracts import CommentReceived, JobErased, ThreadResolved, new_envelope
from figsync_eventstore import Appended, DuplicateEvent, PostgresEventStore
from figsync_eventstore.personal import is_job_stream, person_digest
from figsync_projector.audit import record
from figsync_projector.commands import CommandError
from figsync_projector.fold import TERMINAL
from figsync_runtime.steps import every
from figsync_runtime.teams import TeamRepository

log = structlog.get_logger("figsync.erasure")
SOURCE = "/services/projector/erasure"
_ERASED_EVENT = uuid.UUID("0c5c3e0e-8f57-4d55-a7c4-6f0f2c3e9a41")

Reason = Literal["request", "retention"]


@dataclass(frozen=True)
class Erasure:
    """What erasing one job did: `already` when its key had been shredded before."""

    job_id: str
    team: str
    already: bool


def erased_event_id(job_id: str) -> str:
    """One JobErased per job, whoever erases it first (a retry or a second replica appends
    the same event id, which the store refuses as a duplicate)."""
    return str(uuid.uuid5(_ERASED_EVENT, job_id))


async def erase_job(
    store: PostgresEventStore,
    job_id: str,
    *,
    reason: Reason,
    requested_by: str,
    team: str | None = None,
) -> Erasure:
    """Erase one job (of `team`, or of any team when None: the operator's CLI)."""
    history = await store.read_stream(job_id) if is_job_stream(job_id) else []
    job_team = history[0].metadata.get("team", "") if history else ""
    if not history or (team is not None and job_team != team):
        raise CommandError(404, "job.not_found", f"no job {job_id!r} in team {team or '*'!r}")
    file_keys = sorted(
        {
            e.data["file_key"]
            for e in history
            if e.type in (CommentReceived.type, ThreadResolved.type) and e.data.get("file_key")
        }
    )
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn, conn.transaction():
        shredded = await conn.fetchval(
            """INSERT INTO job_keys (job_id, team, key, erased_at, erased_reason)
               VALUES ($1, $2, NULL, $3, $4)
               ON CONFLICT (job_id) DO UPDATE
               SET key = NULL, erased_at = excluded.erased_at, erased_reason = excluded.erased_reason
               WHERE job_keys.key IS NOT NULL
               RETURNING true""",
            job_id, job_team, now, reason,
        )  # fmt: skip
        await _drop_copies(conn, job_id, file_keys)
        appended = await PostgresEventStore(conn).append(  # type: ignore[arg-type]
            job_id,
            [
                new_envelope(
                    JobErased(reason=reason, requested_by=requested_by, erased_at=now),
                    stream_id=job_id,
                    team=job_team,
                    source=SOURCE,
                    event_id=erased_event_id(job_id),
                    causation=history[-1].envelope(),
                )
            ],
            None,
        )
        if isinstance(appended, Appended):
            await record(conn, job_team, "job.erased", requested_by, job_id, reason=reason)
    already = not shredded and isinstance(appended, DuplicateEvent)
    log.info("job erased", erased_job=job_id, team=job_team, reason=reason, already=already)
    return Erasure(job_id, job_team, already)


async def _drop_copies(conn: asyncpg.Connection, job_id: str, file_keys: list[str]) -> None:
    """Everything outside the events that may hold the job's personal data."""
    await conn.execute("DELETE FROM job_people WHERE job_id = $1", job_id)
    await conn.execute("DELETE FROM summary_cache WHERE job_id = $1", job_id)
    await conn.execute("UPDATE tracked_threads SET open = false WHERE job_id = $1", job_id)
    await conn.execute(
        "UPDATE relay_parked SET error = '[erased]' WHERE stream_id = $1 AND error <> '[erased]'",
        job_id,
    )
    await conn.execute(
        """UPDATE forwarding_verifications
           SET requested_by = '[erased]', code = '[erased]', confirmation_url = NULL
           WHERE job_id = $1""",
        job_id,
    )
    if file_keys:
        # The file's comments as read from Figma (shared for seconds, kept up to an hour).
        await conn.execute(
            """DELETE FROM shared_cache WHERE key LIKE 'figma-comments:%'
               AND split_part(key, ':', 3) = ANY($1::text[])""",
            file_keys,
        )


async def jobs_of_person(pool: asyncpg.Pool, person: str, team: str | None = None) -> list[str]:
    """The jobs whose events name this handle, user id or e-mail address."""
    rows = await pool.fetch(
        """SELECT job_id FROM job_people WHERE person = $1 AND ($2::text IS NULL OR team = $2)
           ORDER BY job_id""",
        person_digest(person), team,
    )  # fmt: skip
    return [r["job_id"] for r in rows]


async def erase_person(
    store: PostgresEventStore, person: str, *, requested_by: str, team: str | None = None
) -> list[Erasure]:
    """Erase every job that names the person (the whole job: its thread, summary, task link)."""
    if not person.strip().lstrip("@").strip():
        raise CommandError(422, "erase.bad_person", "name a Figma handle, user id or address")
    return [
        await erase_job(store, job_id, reason="request", requested_by=requested_by, team=team)
        for job_id in await jobs_of_person(store.pool, person, team)
    ]


async def expired_jobs(pool: asyncpg.Pool, team: str, days: int, limit: int = 200) -> list[str]:
    """The team's jobs that ended more than `days` ago and still have their personal data."""
    rows = await pool.fetch(
        """SELECT j.job_id FROM projections.jobs j
           JOIN job_keys k ON k.job_id = j.job_id AND k.key IS NOT NULL
           WHERE j.team = $1 AND j.status = ANY($2::text[])
             AND j.finished_at < now() - make_interval(days => $3)
           ORDER BY j.finished_at LIMIT $4""",
        team, sorted(TERMINAL), days, limit,
    )  # fmt: skip
    return [r["job_id"] for r in rows]


async def apply_retention(
    store: PostgresEventStore, teams: Iterable[tuple[str, int | None]]
) -> list[Erasure]:
    """One pass: erase each team's jobs older than its retention (None: kept for ever)."""
    erased: list[Erasure] = []
    for team, days in teams:
        if days is None:
            continue
        for job_id in await expired_jobs(store.pool, team, days):
            erased.append(
                await erase_job(store, job_id, reason="retention", requested_by="retention")
            )
    return erased


@dataclass
class Retention:
    """The retention loop: every `interval` seconds, each team's expired jobs are erased
    (every replica may run it: erasing is idempotent, one JobErased per job)."""

    store: PostgresEventStore
    teams: TeamRepository
    interval: float

    async def run(self, stop: asyncio.Event) -> None:
        async for _ in every(self.interval, stop):
            names = await self.teams.teams()
            settings = [await self.teams.get(name) for name in names]
            done = await apply_retention(
                self.store, [(s.team, s.retention_days) for s in settings if s is not None]
            )
            if done:
                log.info("retention erased jobs", count=len(done))
