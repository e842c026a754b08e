"""The Figma side of a task's life: reactions on the comment, and a reply when it is done.

Reactions show where the task stands: 👀 once figsync has the comment, ✅ once the task
exists, ❌ if the job failed (a retry that succeeds swaps it back), and 🎉 on the thread's
root while the task is done in Notion. What should be there is worked out from the whole job
(so deliveries in any order end in the same place) and compared with what figsync has put
there (CommentReacted); each difference is one call, with an intent recorded first and, on a
retry after a crash, the comment's reactions read back before anything is redone.

When Notion says the task moved into done (or back out), the thread hears it once.
Nothing here may fail the job: trouble is retried a few times, then noted (LifecycleFailed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from figsync_clients.figma import team_per_minute
from figsync_contracts import (
    CommentReacted,
    EffectIntended,
    Event,
    JobFailed,
    LifecycleFailed,
    SummaryGenerated,
    TaskCreated,
    TaskStatusChanged,
    ThreadNotified,
    ThreadResolved,
)
from figsync_eventstore import RecordedEvent
from figsync_notifier.handlers import ALERTS_STEP, latest
from figsync_notifier.ports import FigmaComments, Teams
from figsync_runtime import RetryableError, StepContext, StepError, WaitError
from figsync_runtime.confirmation import render_confirmation
from figsync_runtime.teams import TeamSettings

log = structlog.get_logger("figsync.notifier.lifecycle")

STEP = "thread-sync"
REACTION_EFFECT = "figma.reaction"
NOTE_EFFECT = "figma.thread_note"
EMOJI = {
    "taken": ":eyes:",
    "task_ready": ":white_check_mark:",
    "failed": ":x:",
    "done": ":tada:",
}
DONE_TEMPLATE = "✅ Done in Notion — {title} {url}"
REOPENED_TEMPLATE = "↩️ Reopened in Notion — {title} {url}"
# Waiting longer than this would defer the job (JobDeferred), which other steps read as done.
MAX_WAIT = 300.0


@dataclass(frozen=True)
class ThreadSync:
    figma: FigmaComments
    teams: Teams
    attempts: int = 3


def stands_for(history: list[RecordedEvent]) -> str | None:
    """Where the task stands, from the job's events in order."""
    state = None
    for recorded in history:
        if recorded.type == ThreadResolved.type:
            state = state or "taken"
        elif recorded.type == TaskCreated.type:
            state = "task_ready"
        elif recorded.type == JobFailed.type and recorded.data.get("step") not in (
            ALERTS_STEP,
            STEP,
        ):
            state = "failed" if state != "task_ready" else state
        elif recorded.type == TaskStatusChanged.type:
            state = "done" if recorded.data.get("done") else "task_ready"
    return state


def wanted(state: str | None, comment_id: str, root_id: str) -> dict[str, set[str]]:
    """The reactions figsync should have on each comment of the thread."""
    want: dict[str, set[str]] = {comment_id: set(), root_id: set()}
    if state is None:
        return want
    status = "task_ready" if state == "done" else state
    want[comment_id].add(EMOJI[status])
    if state == "done":
        want[root_id].add(EMOJI["done"])
    return want


def applied(history: list[RecordedEvent]) -> dict[str, set[str]]:
    """The reactions figsync has put on each comment, by its own record."""
    have: dict[str, set[str]] = {}
    for recorded in history:
        if recorded.type == CommentReacted.type:
            reacted = CommentReacted.model_validate(recorded.data)
            mine = have.setdefault(reacted.comment_id, set())
            mine |= set(reacted.added)
            mine -= set(reacted.removed)
    return have


def _intended(ctx: StepContext, effect: str) -> bool:
    """Whether an attempt at this very trigger got as far as an intent (then died)."""
    return any(
        e.type == EffectIntended.type
        and e.data.get("effect") == effect
        and e.metadata.get("causationid") == ctx.trigger.id
        for e in ctx.history
    )


async def sync_thread(ctx: StepContext, deps: ThreadSync) -> None:
    """On ThreadResolved, TaskCreated, JobFailed, TaskStatusChanged: bring the Figma thread in
    step with the task."""
    thread = latest(ctx.history, ThreadResolved)
    if thread is None:
        return
    team = await deps.teams.get(ctx.team) or TeamSettings(team=ctx.team)
    token = await deps.teams.get_secret(ctx.team, "figma_token") or ""
    action = "reaction"
    try:
        events: list[Event] = []
        if team.reactions_enabled and token:
            events += await _react(ctx, deps, team, token, thread)
        trigger = ctx.event()
        if isinstance(trigger, TaskStatusChanged) and team.done_replies_enabled and token:
            action = "thread_note"
            note = await _note(ctx, deps, team, token, thread, trigger)
            if note is not None:
                events.append(note)
        if events:
            await _append(ctx, lambda: ctx.emit(*events))
    except StepError as error:
        if error.waiting:
            raise WaitError(error.code, error.message,
                            retry_after=min(error.retry_after or 1.0, MAX_WAIT)) from error  # fmt: skip
        if error.retryable and ctx.attempt < deps.attempts:
            raise RetryableError(error.code, error.message) from error
        log.warning("the Figma thread could not be brought in step", action=action,
                    code=error.code, error_message=error.message)  # fmt: skip
        await ctx.emit(LifecycleFailed(action=action, code=error.code, message=error.message,
                                       attempts=ctx.attempt))  # fmt: skip


def as_of_trigger(ctx: StepContext) -> list[RecordedEvent] | None:
    """The job's events up to this trigger, so each change shows in turn (👀, then ✅); None
    when a later trigger has already put its state on the comment (deliveries out of order)."""
    at = {e.event_id: e.position for e in ctx.history}
    mine = at.get(ctx.trigger.id, 1 << 62)
    for recorded in ctx.history:
        cause = at.get(recorded.metadata.get("causationid", ""), -1)
        if recorded.type == CommentReacted.type and cause > mine:
            return None
    return [e for e in ctx.history if e.position <= mine]


async def _react(
    ctx: StepContext, deps: ThreadSync, team: TeamSettings, token: str, thread: ThreadResolved
) -> list[Event]:
    history = as_of_trigger(ctx)
    if history is None:
        return []
    state = stands_for(history)
    root_id = thread.root_comment_id or thread.comment_id
    want = wanted(state, thread.comment_id, root_id)
    recorded = applied(ctx.history)
    have = {c: set(e) for c, e in recorded.items()}
    per_minute = team_per_minute(team)
    if _unsettled(ctx.history):
        # A call may have gone out without its record: what is on the comments now says.
        me = await deps.figma.me(token, per_minute=per_minute)
        for comment_id in want:
            on_it = await deps.figma.reactions(token, thread.file_key, comment_id,
                                               per_minute=per_minute)  # fmt: skip
            have[comment_id] = {r.emoji for r in on_it if r.user.id == me.id} & set(EMOJI.values())
    events: list[Event] = []
    for comment_id, emojis in want.items():
        mine = have.get(comment_id, set())
        add, remove = sorted(emojis - mine), sorted(mine - emojis)
        for emoji in add + remove:

            async def intend(key: str = f"{comment_id}:{emoji}") -> None:
                await _append(ctx, lambda: ctx.record_intent(REACTION_EFFECT, key=key))

            await deps.figma.react(
                token, thread.file_key, comment_id, emoji, remove=emoji in remove,
                per_minute=per_minute, before_send=intend,
            )  # fmt: skip
        # Recorded against the record (not what was looked up), so the record ends true.
        before = recorded.get(comment_id, set())
        if emojis != before:
            events.append(
                CommentReacted(comment_id=comment_id, added=sorted(emojis - before),
                               removed=sorted(before - emojis),
                               stands_for=state or "taken")  # type: ignore[arg-type]
            )  # fmt: skip
    return events


def _unsettled(history: list[RecordedEvent]) -> bool:
    """Whether an attempt got as far as a reaction intent and then died before recording what
    it did (no CommentReacted since): only Figma knows what is on the comments then."""
    last = max((e.position for e in history if e.type == CommentReacted.type), default=-1)
    settled = {
        e.metadata.get("causationid")
        for e in history
        if e.type in (CommentReacted.type, LifecycleFailed.type)
    }
    return any(
        e.type == EffectIntended.type
        and e.data.get("effect") == REACTION_EFFECT
        and e.position > last
        and e.metadata.get("causationid") not in settled
        for e in history
    )


async def _note(
    ctx: StepContext,
    deps: ThreadSync,
    team: TeamSettings,
    token: str,
    thread: ThreadResolved,
    changed: TaskStatusChanged,
) -> ThreadNotified | None:
    """One reply when the task moved into done or back out of it (not when figsync did it)."""
    if changed.origin == "figsync":
        return None
    before = [
        e for e in ctx.history
        if e.type == TaskStatusChanged.type and e.event_id != ctx.input.id
        and e.position < _position(ctx)
    ]  # fmt: skip
    was_done = bool(before and before[-1].data.get("done"))
    if changed.done == was_done:
        return None
    about = "done" if changed.done else "reopened"
    task = latest(ctx.history, TaskCreated)
    summary = latest(ctx.history, SummaryGenerated)
    template = (team.done_template or DONE_TEMPLATE) if changed.done else (
        team.reopened_template or REOPENED_TEMPLATE
    )  # fmt: skip
    message = render_confirmation(
        template,
        {
            "title": summary.title if summary else thread.file_name or "the task",
            "url": task.url if task else "",
            "file_name": thread.file_name,
            "file_url": thread.file_url,
        },
    )
    root_id = thread.root_comment_id or thread.comment_id
    per_minute = team_per_minute(team)
    if _intended(ctx, NOTE_EFFECT):
        noted = {e.data.get("comment_id") for e in ctx.history if e.type == ThreadNotified.type}
        for comment in await deps.figma.comments(token, thread.file_key, per_minute=per_minute):
            if (
                comment.parent_id == root_id
                and comment.message.strip() == message.strip()
                and comment.id not in noted
                and comment.created_at >= ctx.input.time
            ):
                return ThreadNotified(comment_id=comment.id, about=about, reused=True)

    async def intend() -> None:
        await _append(ctx, lambda: ctx.record_intent(NOTE_EFFECT, key=ctx.trigger.id))

    posted = await deps.figma.post_comment(
        token, thread.file_key, message, reply_to=root_id, per_minute=per_minute,
        before_send=intend,
    )  # fmt: skip
    return ThreadNotified(comment_id=posted.id, about=about)


async def _append(ctx: StepContext, append: Callable[[], Awaitable[None]]) -> None:
    """Append to a job other steps are appending to: their events never change this step's
    (which are about its own reactions and notes), so a conflict is only re-read and retried."""
    for _ in range(10):
        try:
            return await append()
        except RetryableError as error:
            if error.code != "store.conflict":
                raise
            await ctx.refresh()
    await append()


def _position(ctx: StepContext) -> int:
    return next((e.position for e in ctx.history if e.event_id == ctx.input.id), 1 << 62)
