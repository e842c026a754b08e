"""The notifier's handlers: the confirmation reply in Figma, and alerts to the team's Slack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from prometheus_client import Counter

from figsync_clients.figma import FigmaComment, team_per_minute
from figsync_contracts import (
    AlertFailed,
    AlertSent,
    BudgetExceeded,
    ConfirmationPosted,
    ConfirmationSkipped,
    Event,
    JobFailed,
    SummaryGenerated,
    TaskCreated,
    ThreadResolved,
)
from figsync_eventstore import RecordedEvent
from figsync_notifier.messages import budget_message, failure_message
from figsync_notifier.ports import AlertChannel, FigmaComments, Teams
from figsync_runtime import PermanentError, RetryableError, StepContext, StepError
from figsync_runtime.confirmation import (
    MAX_MESSAGE_CHARS,
    render_confirmation,
    template_problems,
)
from figsync_runtime.teams import TeamSettings

log = structlog.get_logger("figsync.notifier")

CONFIRMATIONS = Counter(
    "figsync_confirmations_total",
    "Confirmations in Figma threads, by outcome (posted, reused, skipped).",
    ["outcome"],
)
ALERTS = Counter(
    "figsync_alerts_total",
    "Alerts to a team's channel, by channel and outcome (sent, failed, retried).",
    ["channel", "outcome"],
)

REPLY_EFFECT = "figma.reply"
ALERTS_STEP = "alerts"

E = TypeVar("E", bound=Event)


def latest(history: list[RecordedEvent], kind: type[E]) -> E | None:
    """The job's most recent event of this type, typed."""
    for recorded in reversed(history):
        if recorded.type == kind.type:
            return kind.model_validate(recorded.data)
    return None


@dataclass(frozen=True)
class Confirmer:
    """What the confirmation needs: Figma, the team's settings and secrets."""

    figma: FigmaComments
    teams: Teams
    # Called right after Figma accepted the reply; crash tests hang the process here.
    after_reply: Callable[[], None] = lambda: None


def other_tasks(task: TaskCreated, summary: SummaryGenerated | None) -> str:
    """The reply's lines for the job's other task pages (a thread with several pieces of
    work): one per page, its title and link, so one reply lists every task."""
    if not task.pages:
        return ""
    titles = {i: t.title for i, t in enumerate(summary.tasks)} if summary else {}
    lines = [f"• {titles.get(p.index, f'Task {p.index + 1}')} — {p.url}" for p in task.pages]
    return "\n" + "\n".join(lines)


async def confirm(ctx: StepContext, deps: Confirmer) -> None:
    """On TaskCreated: reply in the Figma thread with the task's link, exactly once."""
    task = ctx.event()
    assert isinstance(task, TaskCreated)
    team = await deps.teams.get(ctx.team)
    enabled = team is None or team.confirmations_enabled
    intended = bool(ctx.intents(REPLY_EFFECT))
    if not enabled and not intended:
        await _skip(ctx)
        return
    thread = latest(ctx.history, ThreadResolved)
    if thread is None:
        raise PermanentError(
            "notifier.thread_unknown",
            "the job has no resolved Figma thread (ThreadResolved), so there is nothing to "
            "reply to; re-run the job from the figma step",
        )
    root_id = thread.root_comment_id or thread.comment_id
    token = await deps.teams.get_secret(ctx.team, "figma_token") or ""
    per_minute = team_per_minute(team or TeamSettings(team=ctx.team))

    if intended:
        # A reply may have been posted by an attempt that died before recording it.
        existing = await find_reply(
            deps.figma, token, thread.file_key, root_id, task.url, per_minute
        )
        if existing is not None:
            log.info("confirmation already in the thread; reusing it", comment_id=existing.id)
            await ctx.emit(ConfirmationPosted(comment_id=existing.id, reused=True))
            CONFIRMATIONS.labels("reused").inc()
            return
        if not enabled:  # turned off between the attempts, before anything was posted
            await _skip(ctx)
            return

    template = team.confirmation_template if team else None
    if template and (problems := template_problems(template)):
        log.warning("confirmation template has problems", problems=problems)
    summary = latest(ctx.history, SummaryGenerated)
    values = {
        "title": summary.title if summary else thread.file_name or "Figma comment",
        "url": task.url,
        "file_name": thread.file_name,
        "file_url": thread.file_url,
    }
    message, others = render_confirmation(template, values), other_tasks(task, summary)
    if len(message) + len(others) > MAX_MESSAGE_CHARS:  # a long template and several tasks
        message = render_confirmation(None, values)
    message += others

    async def record_intent() -> None:
        await ctx.record_intent(REPLY_EFFECT, key=ctx.job_id)

    # The intent is recorded once the budget lets the call go: waiting leaves none behind.
    posted = await deps.figma.post_comment(
        token, thread.file_key, message, reply_to=root_id, per_minute=per_minute,
        before_send=None if intended else record_intent,
    )  # fmt: skip
    deps.after_reply()
    await ctx.emit(ConfirmationPosted(comment_id=posted.id))
    CONFIRMATIONS.labels("posted").inc()


async def _skip(ctx: StepContext) -> None:
    await ctx.emit(ConfirmationSkipped(reason="confirmations_disabled"))
    CONFIRMATIONS.labels("skipped").inc()


async def find_reply(
    figma: FigmaComments,
    token: str,
    file_key: str,
    root_id: str,
    url: str,
    per_minute: float | None = None,
) -> FigmaComment | None:
    """A reply under the thread's root that carries the task link, if one exists (a fresh
    read: a shared one may predate the reply)."""
    for comment in await figma.comments(token, file_key, per_minute=per_minute):
        if comment.parent_id == root_id and url in comment.message:
            return comment
    return None


@dataclass(frozen=True)
class Alerter:
    """What alerts need: where to post, the team's secrets, the dashboard, how often to try."""

    channel: AlertChannel
    teams: Teams
    dashboard_url: str
    attempts: int = 3


async def alert(ctx: StepContext, deps: Alerter) -> None:
    """On JobFailed / BudgetExceeded: tell the team's Slack, when it has one configured.

    Never fails the job: a retryable Slack failure is redelivered a few times, then recorded
    as AlertFailed; anything else is recorded or logged, never raised to the runner (which
    would append JobFailed to the job, and alert about the alert)."""
    event = ctx.event()
    about = ctx.input.type
    if isinstance(event, JobFailed) and event.step == ALERTS_STEP:
        return
    try:
        url = await deps.teams.get_secret(ctx.team, "slack_webhook_url")
        if not url:
            return
        await deps.channel.post(url, _alert_text(ctx, event, deps.dashboard_url))
    except StepError as error:
        if error.retryable and ctx.attempt < deps.attempts:
            ALERTS.labels("slack", "retried").inc()
            # No retry_after: a long Retry-After would defer the job (JobDeferred) for an alert.
            raise RetryableError(error.code, error.message, retry_after=None) from error
        log.warning("alert to Slack failed", code=error.code, error_message=error.message,
                    attempt=ctx.attempt)  # fmt: skip
        ALERTS.labels("slack", "failed").inc()
        await ctx.emit(
            AlertFailed(channel="slack", about=about, code=error.code, message=error.message,
                        attempts=ctx.attempt)
        )  # fmt: skip
        return
    except Exception as error:
        if ctx.attempt < deps.attempts:
            raise RetryableError("alerts.unexpected_error", f"{type(error).__name__}") from error
        log.exception("alert could not be sent")
        ALERTS.labels("slack", "failed").inc()
        return
    ALERTS.labels("slack", "sent").inc()
    await ctx.emit(AlertSent(channel="slack", about=about, attempts=ctx.attempt))


def _alert_text(ctx: StepContext, event: Event, dashboard_url: str) -> str:
    if isinstance(event, BudgetExceeded):
        # It lives on the team's budget stream; its correlation is the job that hit the limit.
        return budget_message(
            event, team=ctx.team, job_id=ctx.input.correlationid, dashboard_url=dashboard_url
        )
    assert isinstance(event, JobFailed)
    thread = latest(ctx.history, ThreadResolved)
    return failure_message(
        event,
        team=ctx.team,
        job_id=ctx.job_id,
        dashboard_url=dashboard_url,
        file_name=thread.file_name if thread else "",
    )
