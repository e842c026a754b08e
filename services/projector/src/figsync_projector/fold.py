"""The pure part of the projector: what each event does to a job and to the team's figures.

No I/O here. A batch of events folds into a `Delta` (the touched jobs and the increments of the
additive views); the Postgres projection loads the touched jobs first and writes the delta in
the transaction that moves the checkpoint. Every value is derived from the events (recorded
time, data), never from the clock, so a rebuild gives the same rows as the live projection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any

from figsync_contracts import (
    BudgetExceeded,
    CommentReacted,
    CommentReceived,
    ConfirmationPosted,
    ConfirmationSkipped,
    EffectIntended,
    EmailReceived,
    FigmaThreadClosed,
    JobDeferred,
    JobErased,
    JobFailed,
    JobIgnored,
    JobResumed,
    JobRetryRequested,
    LifecycleFailed,
    SummaryGenerated,
    SummaryPreviewed,
    SummaryRefreshed,
    TaskCreated,
    TaskStatusChanged,
    TaskUpdated,
    ThreadNotified,
    ThreadResolved,
    ThreadUpdated,
)
from figsync_eventstore import RecordedEvent
from figsync_eventstore.personal import ERASED, is_job_stream

STATUSES = (
    "received",
    "resolving",
    "summarizing",
    "creating_task",
    "confirming",
    "completed",
    "ignored",
    "failed",
    "deferred",
)
TERMINAL = frozenset({"completed", "ignored", "failed"})
RETRYABLE = frozenset({"failed", "deferred"})

# The step that runs next, and the status a job has while that step works on it.
STEP_STATUS = {
    "figma": "resolving",
    "summarizer": "summarizing",
    "notion": "creating_task",
    "notifier": "confirming",
}
# Which provider a step calls, for the daily API-call counts.
STEP_PROVIDER = {"figma": "figma", "summarizer": "ai", "notion": "notion", "notifier": "figma"}


EMAIL_RECEIVED = EmailReceived.type
COMMENT_RECEIVED = CommentReceived.type
THREAD_RESOLVED = ThreadResolved.type
SUMMARY_GENERATED = SummaryGenerated.type
EFFECT_INTENDED = EffectIntended.type
TASK_CREATED = TaskCreated.type
CONFIRMATION_POSTED = ConfirmationPosted.type
CONFIRMATION_SKIPPED = ConfirmationSkipped.type
JOB_IGNORED = JobIgnored.type
JOB_FAILED = JobFailed.type
JOB_DEFERRED = JobDeferred.type
JOB_RESUMED = JobResumed.type
JOB_RETRY_REQUESTED = JobRetryRequested.type
BUDGET_EXCEEDED = BudgetExceeded.type
JOB_ERASED = JobErased.type
# What a job row holds of people and what they wrote: scrubbed when the job is erased.
_PERSONAL_COLUMNS = ("author", "mention", "title", "comment_text", "error_message")
# What the timeline's details hold of them (subject, title, ignore detail, error, task link,
# who the task was assigned to).
PERSONAL_DETAILS = ("subject", "title", "detail", "message", "url", "assignee", "pages")
SUMMARY_PREVIEWED = SummaryPreviewed.type


@lru_cache(maxsize=256)
def short_type(event_type: str) -> str:
    """`figsync.job_failed.v1` → `JobFailed`."""
    parts = event_type.split(".")
    name = parts[1] if len(parts) == 3 else event_type
    return "".join(word.capitalize() for word in name.split("_"))


@dataclass(slots=True)
class JobRow:
    """One row of projections.jobs (column order = table order)."""

    job_id: str
    team: str
    source: str | None
    status: str
    step: str | None
    file_key: str | None
    file_name: str | None
    comment_id: str | None
    author: str | None
    mention: str | None
    title: str | None
    notion_url: str | None
    attempts: int
    error_code: str | None
    error_message: str | None
    deferred_until: datetime | None
    cost_usd: Decimal
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    processing_ms: int | None
    event_count: int
    last_position: int
    comment_text: str | None = None  # the mentioned comment, for the text filter

    @classmethod
    def new(cls, job_id: str, team: str, at: datetime, position: int) -> JobRow:
        return cls(
            job_id, team, None, "received", "figma", None, None, None, None, None, None, None,
            0, None, None, None, Decimal(0), at, at, None, None, 0, position,
        )  # fmt: skip

    def as_tuple(self) -> tuple:
        return _job_values(self)


JOB_COLUMNS = tuple(f.name for f in fields(JobRow))
_job_values = attrgetter(*JOB_COLUMNS)


@dataclass(slots=True)
class Daily:
    jobs: int = 0
    successful: int = 0
    failed: int = 0
    ignored: int = 0
    processing_ms_sum: int = 0
    processing_count: int = 0
    figma_calls: int = 0
    notion_calls: int = 0
    ai_calls: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)


@dataclass(slots=True)
class ErrorCount:
    count: int
    step: str | None
    first_seen: datetime
    last_seen: datetime
    last_message: str
    last_job_id: str


@dataclass(slots=True)
class Cost:
    cost_usd: Decimal = field(default_factory=Decimal)
    summaries: int = 0
    ai_summaries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    budget_exceeded: bool = False
    previews: int = 0  # the dashboard's priced previews (in cost_usd too)


@dataclass(slots=True)
class ModelCost:
    """One model's share of a team's month: the threads sent to it and what it cost."""

    cost_usd: Decimal = field(default_factory=Decimal)
    summaries: int = 0
    ai_summaries: int = 0
    previews: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Delta:
    """What one batch changes: touched jobs (full rows), timeline rows, and increments."""

    jobs: dict[str, JobRow] = field(default_factory=dict)
    new_jobs: set[str] = field(default_factory=set)
    timeline: list[tuple] = field(default_factory=list)
    daily: dict[tuple[str, Any], Daily] = field(default_factory=dict)
    errors: dict[tuple[str, str], ErrorCount] = field(default_factory=dict)
    costs: dict[tuple[str, str], Cost] = field(default_factory=dict)
    model_costs: dict[tuple[str, str, str], ModelCost] = field(default_factory=dict)
    teams: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    # The job page's story (thread, summary, trace): per job, the parts this batch set.
    stories: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Jobs erased in this batch: their rows already written are scrubbed after the batch's.
    erased: set[str] = field(default_factory=set)
    last_position: int = 0

    def story(self, job_id: str, team: str) -> dict[str, Any]:
        found = self.stories.get(job_id)
        if found is None:
            found = self.stories[job_id] = {"team": team}
        return found

    def day(self, team: str, at: datetime) -> Daily:
        key = (team, at.date())
        found = self.daily.get(key)
        if found is None:
            found = self.daily[key] = Daily()
        return found

    def cost(self, team: str, at: datetime) -> Cost:
        key = (team, f"{at.year:04d}-{at.month:02d}")
        found = self.costs.get(key)
        if found is None:
            found = self.costs[key] = Cost()
        return found

    def model_cost(self, team: str, at: datetime, model: str) -> ModelCost:
        key = (team, f"{at.year:04d}-{at.month:02d}", model)
        found = self.model_costs.get(key)
        if found is None:
            found = self.model_costs[key] = ModelCost()
        return found

    def spent(self, team: str, at: datetime, data: dict[str, Any]) -> Decimal:
        """A model call's cost and tokens on the team's day, month and model; returns the
        cost. Summaries and previews alike: the budget counts both."""
        cost = Decimal(str(data.get("cost_usd") or 0))
        tokens = int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0)
        ai = data.get("source") == "ai"
        daily = self.day(team, at)
        daily.cost_usd += cost
        daily.ai_calls += ai
        for figures in (self.cost(team, at), self.model_cost(team, at, data.get("model") or "")):
            figures.cost_usd += cost
            figures.input_tokens += tokens[0]
            figures.output_tokens += tokens[1]
        return cost

    def error(self, team: str, code: str, step: str, message: str, at: datetime, job: str):
        found = self.errors.get((team, code))
        if found is None:
            self.errors[(team, code)] = ErrorCount(1, step, at, at, message, job)
        else:
            found.count += 1
            found.step, found.last_seen, found.last_message, found.last_job_id = (
                step, at, message, job,
            )  # fmt: skip

    def calls(self, team: str, at: datetime, provider: str | None, count: int = 1) -> None:
        if provider is None or count <= 0:
            return
        daily = self.day(team, at)
        if provider == "figma":
            daily.figma_calls += count
        elif provider == "notion":
            daily.notion_calls += count
        else:
            daily.ai_calls += count


def fold(events: list[RecordedEvent], loaded: dict[str, JobRow]) -> Delta:
    """Fold a batch of events (in global order) over the jobs as stored before the batch."""
    delta = Delta()
    jobs = delta.jobs
    for event in events:
        team = event.metadata.get("team") or ""
        at = event.recorded_at
        delta.last_position = event.position
        if team and team not in delta.teams:
            delta.teams[team] = (at, event.position)
        elif team:
            delta.teams[team] = (delta.teams[team][0], event.position)
        if not is_job_stream(event.stream_id):
            if event.type == BUDGET_EXCEEDED and team:
                delta.cost(team, at).budget_exceeded = True
            elif event.type == SUMMARY_PREVIEWED and team:
                delta.spent(team, at, event.data)
                delta.cost(team, at).previews += 1
                delta.model_cost(team, at, event.data.get("model") or "").previews += 1
            continue
        job = jobs.get(event.stream_id) or loaded.get(event.stream_id)
        if job is None:
            job = JobRow.new(event.stream_id, team, at, event.position)
            delta.new_jobs.add(job.job_id)
            if trace := trace_id(event.metadata.get("traceparent")):
                delta.story(job.job_id, team)["trace_id"] = trace
            if team:
                delta.day(team, at).jobs += 1
        jobs[job.job_id] = job
        team = job.team or team
        detail = apply(job, event, delta, team)
        job.event_count += 1
        job.updated_at = at
        job.last_position = event.position
        delta.timeline.append(
            (
                event.position,
                job.job_id,
                team,
                event.version,
                short_type(event.type),
                _dumps(detail),
                at,
            )
        )
    return delta


_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode


def trace_id(traceparent: str | None) -> str | None:
    """`00-<trace id>-<span id>-<flags>` → the trace id (None if it is not one)."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1]
    return None


def _finish(job: JobRow, status: str, at: datetime) -> None:
    job.status = status
    job.finished_at = at
    job.processing_ms = int((at - job.created_at).total_seconds() * 1000)
    job.deferred_until = None


def _redrive(job: JobRow, step: str | None) -> None:
    if step:
        job.step = step
    job.status = STEP_STATUS.get(job.step or "", "received")
    job.finished_at = None
    job.processing_ms = None
    job.deferred_until = None


def _summarized(
    job: JobRow, data: dict[str, Any], delta: Delta, team: str, at: datetime
) -> Decimal:
    """A summary's title, cost and tokens on the job and the team's figures; its content on
    the job's story. Returns its cost."""
    cost = delta.spent(team, at, data)
    job.title = data.get("title") or job.title
    job.cost_usd += cost
    ai = data.get("source") == "ai"
    for figures in (delta.cost(team, at), delta.model_cost(team, at, data.get("model") or "")):
        figures.summaries += 1
        figures.ai_summaries += ai
    delta.story(job.job_id, team)["summary"] = {
        key: data.get(key)
        for key in ("summary", "action_items", "priority", "category", "source",
                    "fallback_reason", "model")
    }  # fmt: skip
    return cost


def apply(job: JobRow, event: RecordedEvent, delta: Delta, team: str) -> dict[str, Any]:
    """Apply one job event to its row and the team's figures; returns the timeline detail."""
    data = event.data
    kind = event.type
    at = event.recorded_at
    if kind == EMAIL_RECEIVED:
        job.source = "email"
        return {"subject": data.get("subject", ""), "transport": data.get("transport")}
    if kind == COMMENT_RECEIVED:
        job.source = data.get("origin") or "webhook"
        job.file_key = data.get("file_key") or job.file_key
        job.file_name = data.get("file_name") or job.file_name
        job.comment_id = data.get("comment_id") or job.comment_id
        job.author = data.get("author_handle") or job.author
        job.mention = ", ".join(data.get("mentions") or []) or job.mention
        return {"file_key": job.file_key, "comment_id": job.comment_id}
    if kind == THREAD_RESOLVED:
        job.file_key = data.get("file_key") or job.file_key
        job.file_name = data.get("file_name") or job.file_name
        job.comment_id = data.get("comment_id") or job.comment_id
        job.author = data.get("author") or job.author
        job.mention = ", ".join(data.get("mentions") or []) or job.mention
        job.comment_text = data.get("text") or job.comment_text
        job.status, job.step = "summarizing", "summarizer"
        delta.calls(team, at, "figma")
        delta.story(job.job_id, team).update(
            file_url=data.get("file_url"), thread=data.get("thread") or []
        )
        return {"file_key": job.file_key, "file_name": job.file_name, "comment_id": job.comment_id}
    if kind in (SUMMARY_GENERATED, SUMMARY_REFRESHED):
        # A refresh (after replies in the thread) costs like the first summary; the job stays.
        cost = _summarized(job, data, delta, team, at)
        if kind == SUMMARY_GENERATED:
            job.status, job.step = "creating_task", "notion"
        return {"title": job.title, "source": data.get("source"), "model": data.get("model"),
                "cost_usd": str(cost)}  # fmt: skip
    if kind == EFFECT_INTENDED:
        if data.get("step") in STEP_STATUS:  # the lifecycle's steps work on finished jobs
            _redrive(job, data.get("step"))
        return {"step": data.get("step"), "effect": data.get("effect"), "key": data.get("key")}
    if kind == TASK_CREATED:
        job.notion_url = data.get("url") or job.notion_url
        job.status, job.step = "confirming", "notifier"
        delta.calls(team, at, "notion")
        detail = {"url": job.notion_url, "reused": bool(data.get("reused"))}
        if assignee := data.get("assignee"):  # "assigned to Ann (email match, 100)" or why not
            detail["assignee"] = assignee.get("note")
        if pages := data.get("pages"):  # the thread's other tasks, one page each
            detail["pages"] = [p.get("url") for p in pages]
        if data.get("target"):  # which Notion target, and the rule that chose it
            detail.update(target=data["target"], route=data.get("route"))
        return detail
    if kind in (CONFIRMATION_POSTED, CONFIRMATION_SKIPPED):
        was = job.status
        _finish(job, "completed", at)
        job.step = None
        if kind == CONFIRMATION_POSTED:
            delta.calls(team, at, "figma")
        if was != "completed":
            daily = delta.day(team, at)
            daily.successful += 1
            daily.processing_ms_sum += job.processing_ms or 0
            daily.processing_count += 1
        return {"reason": data.get("reason")} if kind == CONFIRMATION_SKIPPED else {}
    if kind == JOB_IGNORED:
        was = job.status
        _finish(job, "ignored", at)
        job.step = None
        if was != "ignored":
            delta.day(team, at).ignored += 1
        return {"reason": data.get("reason"), "detail": data.get("detail", ""),
                "duplicate_of": data.get("duplicate_of")}  # fmt: skip
    if kind == JOB_FAILED:
        was = job.status
        step, code, message = data.get("step"), data.get("code", ""), data.get("message", "")
        _finish(job, "failed", at)
        job.step = step
        job.error_code, job.error_message = code, message
        job.attempts = int(data.get("attempts") or 0)
        delta.calls(team, at, STEP_PROVIDER.get(step or ""), job.attempts)
        if was != "failed":
            delta.day(team, at).failed += 1
        delta.error(team, code, step, message, at, job.job_id)
        return {"step": step, "code": code, "message": message, "attempts": job.attempts}
    if kind == JOB_DEFERRED:
        step, code = data.get("step"), data.get("code", "")
        job.status, job.step = "deferred", step
        job.error_code = code
        job.attempts = int(data.get("attempts") or 0)
        until = data.get("until")
        job.deferred_until = datetime.fromisoformat(until) if until else None
        delta.calls(team, at, STEP_PROVIDER.get(step or ""), job.attempts)
        return {"step": step, "code": code, "until": until}
    if kind == JOB_RESUMED:
        _redrive(job, data.get("step"))
        return {"step": job.step}
    if kind == JOB_RETRY_REQUESTED:
        _redrive(job, data.get("step"))
        return {"step": job.step, "requested_by": data.get("requested_by", "")}
    if kind == JOB_ERASED:
        for name in _PERSONAL_COLUMNS:
            if getattr(job, name):
                setattr(job, name, ERASED)
        job.notion_url = None
        delta.erased.add(job.job_id)
        return {"reason": data.get("reason"), "requested_by": data.get("requested_by", "")}
    if kind == THREAD_UPDATED:  # the page shows the thread as it now stands
        delta.story(job.job_id, team)["thread"] = data.get("thread") or []
    if kind in LIFECYCLE_DETAILS:
        if job.step in LIFECYCLE_STEPS and job.status not in TERMINAL and kind in LIFECYCLE_DONE:
            # A retried lifecycle step (after a JobFailed) got through: the job is whole again.
            job.status, job.step, job.finished_at = "completed", None, at
        return {k: data.get(k) for k in LIFECYCLE_DETAILS[kind]}
    return {}


# The thread's life after the task exists: what the job page shows of each event.
LIFECYCLE_DETAILS = {
    ThreadUpdated.type: ("new_comment_ids", "origin", "from_job"),
    TaskUpdated.type: ("comments_added", "properties_updated"),
    TaskStatusChanged.type: ("status", "done", "origin", "reason"),
    FigmaThreadClosed.type: ("root_comment_id", "resolved_at"),
    CommentReacted.type: ("comment_id", "added", "removed", "stands_for"),
    ThreadNotified.type: ("comment_id", "about", "reused"),
    LifecycleFailed.type: ("action", "code", "message"),
}
# The steps that keep a finished job's task and thread in step, and what each produces.
LIFECYCLE_STEPS = frozenset({"notion-update", "notion-close", "notion-watch", "thread-sync"})
LIFECYCLE_DONE = frozenset(
    {TaskUpdated.type, TaskStatusChanged.type, CommentReacted.type, ThreadNotified.type}
)
SUMMARY_REFRESHED = SummaryRefreshed.type
THREAD_UPDATED = ThreadUpdated.type
