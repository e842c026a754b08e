"""Reconcile: what Figma never tells figsync, found by reading each tracked file's comments.

Figma sends no webhook when a comment is resolved, and emails get lost. So every
FIGSYNC_RECONCILE_INTERVAL_SECONDS each file with open tasks (and each of the team's
`figma_files`) is read once, within the shared budget, by whichever replica takes it first;
from that one read come: a resolved root (the task is set done), replies the task does not
know yet (the task is updated), and tracked mentions no job has (a job starts for each).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from figsync_clients.figma import FigmaComment
from figsync_contracts import FigmaThreadClosed
from figsync_eventstore import EventStore
from figsync_figma.handlers import (
    Deps,
    forward_update,
    mentions_in_text,
    start_comment_job,
    thread_comment,
)
from figsync_runtime import StepError
from figsync_runtime.steps import append_after, every
from figsync_runtime.teams import TeamRepository, TeamSettings
from figsync_runtime.threads import TrackedThread

log = structlog.get_logger("figsync.reconcile")
SOURCE = "/services/figma/reconcile"


@dataclass
class Reconciled:
    """What one file's reconcile did (for logs and tests)."""

    file_key: str
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


async def reconcile_team(
    deps: Deps, store: EventStore, team_id: str, interval_seconds: float, grace_seconds: float
) -> list[Reconciled]:
    """Reconcile the team's files that are due (and that no other replica took)."""
    assert deps.threads is not None
    team = await deps.teams.get(team_id)
    token = await deps.teams.get_secret(team_id, "figma_token")
    if team is None or not token:
        return []
    files = set(await deps.threads.files_with_open_threads(team_id)) | set(team.figma_files)
    done = []
    for file_key in sorted(files):
        if not await deps.threads.take_file(team_id, file_key, interval_seconds):
            continue
        try:
            done.append(
                await reconcile_file(deps, store, team_id, team, token, file_key, grace_seconds)
            )
        except StepError as error:  # a wait, an outage: the next interval tries again
            log.warning("file not reconciled", file_key=file_key, code=error.code,
                        error_message=error.message)  # fmt: skip
    return done


async def reconcile_file(
    deps: Deps,
    store: EventStore,
    team_id: str,
    team: TeamSettings,
    token: str,
    file_key: str,
    grace_seconds: float,
) -> Reconciled:
    assert deps.threads is not None
    # A fresh read: a shared one may predate the resolution or reply this is looking for.
    comments = await deps.comments(token, file_key, team, fresh=True)
    me = await deps.self_user(token, team)
    mine = {c.id for c in comments if me.id and c.user.id == me.id}
    by_id = {c.id: c for c in comments}
    done = Reconciled(file_key)
    tracked = {t.root_comment_id: t for t in await deps.threads.threads_of(team_id, file_key)}
    for root_id, thread in tracked.items():
        root = by_id.get(root_id)
        if root is None or not thread.open:
            continue
        replies = sorted(
            (c for c in comments if c.parent_id == root_id and c.id not in mine),
            key=lambda c: c.created_at,
        )
        if team.thread_updates_enabled and await forward_update(
            store, team_id, thread.job_id, file_key, root_id,
            [thread_comment(c) for c in [root, *replies]],
            origin="reconcile", from_job=None, source=SOURCE,
        ):  # fmt: skip
            done.updated.append(thread.job_id)
        if root.resolved_at and team.figma_resolve_completes_task:
            if await _close(store, team_id, thread, root):
                done.closed.append(thread.job_id)
    settled = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    for comment in comments:
        root_id = comment.parent_id or comment.id
        if comment.id in mine or root_id in tracked or comment.created_at > settled:
            continue
        mentions = mentions_in_text(comment.message, team.tracked_mentions)
        if not mentions:
            continue
        job = await start_comment_job(
            store, team_id, file_key, comment, mentions, origin="reconcile", source=SOURCE
        )
        if job:
            done.started.append(job)
    if done.updated or done.closed or done.started:
        log.info("file reconciled", file_key=file_key, updated=done.updated,
                 closed=done.closed, started=done.started)  # fmt: skip
    return done


async def _close(
    store: EventStore, team_id: str, thread: TrackedThread, root: FigmaComment
) -> bool:
    """FigmaThreadClosed in the owner job, once per resolution of the root."""
    assert root.resolved_at is not None
    history = await store.read_stream(thread.job_id)
    if not history:
        return False
    for recorded in history:
        if (
            recorded.type == FigmaThreadClosed.type
            and recorded.data.get("root_comment_id") == root.id
            and FigmaThreadClosed.model_validate(recorded.data).resolved_at == root.resolved_at
        ):
            return False
    event = FigmaThreadClosed(root_comment_id=root.id, resolved_at=root.resolved_at)
    await append_after(store, thread.job_id, history, event, team=team_id, source=SOURCE)
    return True


async def reconcile_loop(
    deps: Deps,
    store: EventStore,
    teams: TeamRepository,
    interval_seconds: float,
    stop: asyncio.Event,
    grace_seconds: float = 600.0,
) -> None:
    """Look for due files a few times per interval (a file is taken once per interval)."""
    async for _ in every(max(1.0, interval_seconds / 5), stop):
        for team_id in await teams.teams():
            await reconcile_team(deps, store, team_id, interval_seconds, grace_seconds)
