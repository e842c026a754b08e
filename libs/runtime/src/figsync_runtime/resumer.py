"""Resumes deferred jobs when their time comes, by appending JobResumed for the step."""

from __future__ import annotations

import asyncio
import contextlib
import os

import structlog

from figsync_contracts import Envelope, JobDeferred, JobResumed, new_envelope
from figsync_eventstore import PostgresEventStore
from figsync_runtime.steps import Clock, SystemClock

log = structlog.get_logger("figsync.resumer")

_DUE = """
SELECT e.stream_id, e.version, e.event_id::text AS event_id, e.metadata
FROM events e
WHERE e.type = $1 AND e.data->>'step' = $2 AND (e.data->>'until')::timestamptz <= $3
  AND NOT EXISTS (SELECT 1 FROM events later
                  WHERE later.stream_id = e.stream_id AND later.version > e.version)
ORDER BY e.position
LIMIT 100
"""


async def resume_due(store: PostgresEventStore, step: str, clock: Clock) -> int:
    """Append JobResumed to every job of this step whose deferral has expired."""
    async with store.pool.acquire() as conn:
        rows = await conn.fetch(_DUE, JobDeferred.type, step, clock.now())
    resumed = 0
    for row in rows:
        meta = row["metadata"]
        cause = Envelope(
            id=row["event_id"], source="", type=JobDeferred.type, time=clock.now(),
            subject=row["stream_id"], data={}, team=meta.get("team", ""),
            correlationid=meta.get("correlationid", row["stream_id"]),
            traceparent=meta.get("traceparent"),
        )  # fmt: skip
        event = new_envelope(
            JobResumed(step=step),
            stream_id=row["stream_id"],
            team=cause.team,
            source=f"/services/{step}",
            causation=cause,
            traceparent=cause.traceparent,
        )
        outcome = await store.append(row["stream_id"], [event], expected_version=row["version"])
        resumed += int(outcome.__class__.__name__ == "Appended")
    return resumed


async def run_resumer(
    store: PostgresEventStore,
    step: str,
    stop: asyncio.Event,
    clock: Clock | None = None,
    interval: float | None = None,
) -> None:
    """Check for due deferred jobs every `interval` seconds (FIGSYNC_RESUMER_INTERVAL_SECONDS,
    default 5) until stopped."""
    clock = clock or SystemClock()
    if interval is None:
        interval = float(os.environ.get("FIGSYNC_RESUMER_INTERVAL_SECONDS") or 5.0)
    while not stop.is_set():
        try:
            count = await resume_due(store, step, clock)
            if count:
                log.info("resumed deferred jobs", step=step, count=count)
        except Exception as error:
            # Never let the loop die: after a Postgres restart the pool's connections fail
            # with interface errors for a while, and a dead resumer strands deferred jobs.
            log.warning("resumer could not check deferred jobs", error=str(error))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
