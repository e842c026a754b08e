"""Commands the API and the CLI accept: retry a failed job, request a manual sync.

They decide from the event store (the truth), not from the views, which may lag a moment.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from figsync_contracts import JobErased, JobRetryRequested, ManualSyncRequested, new_envelope
from figsync_eventstore import Appended, EventStore
from figsync_projector.errors import HttpError
from figsync_projector.fold import RETRYABLE, fold, is_job_stream

SOURCE = "/services/projector"
FILE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class CommandError(HttpError):
    """A command refused: an HTTP status, a stable code and what to do."""


@dataclass(frozen=True)
class RetryRequested:
    job_id: str
    team: str
    step: str | None
    event_id: str


@dataclass(frozen=True)
class SyncRequested:
    sync_id: str
    team: str
    stream_id: str
    file_key: str
    event_id: str


async def request_retry(
    store: EventStore, job_id: str, *, team: str | None = None, requested_by: str = ""
) -> RetryRequested:
    """Append JobRetryRequested for a failed or deferred job, targeting its failed step.
    `team=None` (the operator's CLI) accepts a job of any team."""
    history = await store.read_stream(job_id) if is_job_stream(job_id) else []
    job_team = history[0].metadata.get("team", "") if history else ""
    if not history or (team is not None and job_team != team):
        raise CommandError(404, "job.not_found", f"no job {job_id!r} in team {team or '*'!r}")
    job = fold(history, {}).jobs[job_id]
    if any(e.type == JobErased.type for e in history):
        raise CommandError(
            409, "job.erased", f"job {job_id}'s personal data was erased; it cannot run again"
        )
    if job.status not in RETRYABLE:
        raise CommandError(
            409,
            "job.not_retryable",
            f"job {job_id} is {job.status}; only failed or deferred jobs can be retried",
        )
    envelope = new_envelope(
        JobRetryRequested(step=job.step, requested_by=requested_by),
        stream_id=job_id,
        team=job_team,
        source=SOURCE,
        causation=history[-1].envelope(),
    )
    outcome = await store.append(job_id, [envelope], expected_version=history[-1].version)
    if not isinstance(outcome, Appended):
        raise CommandError(
            409, "job.changed", f"job {job_id} changed meanwhile (a retry may be running); reload"
        )
    return RetryRequested(job_id, job_team, job.step, envelope.id)


async def request_sync(
    store: EventStore, team: str, file_key: str, *, requested_by: str = ""
) -> SyncRequested:
    """Record a manual sync of a Figma file; the figma service finds the comments."""
    file_key = file_key.strip()
    if not FILE_KEY.match(file_key):
        raise CommandError(
            422,
            "sync.bad_file_key",
            "file_key must be a Figma file key (letters, digits, - and _; the part after "
            "/file/ or /design/ in the file's URL)",
        )
    sync_id = str(uuid.uuid4())
    stream_id = f"sync:{team}:{sync_id}"
    envelope = new_envelope(
        ManualSyncRequested(file_key=file_key, requested_by=requested_by),
        stream_id=stream_id,
        team=team,
        source=SOURCE,
    )
    await store.append(stream_id, [envelope], expected_version=0)
    return SyncRequested(sync_id, team, stream_id, file_key, envelope.id)
