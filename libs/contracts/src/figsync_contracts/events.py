"""The event catalogue: every fact a job's stream can hold, as frozen, versioned models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from figsync_contracts.subjects import type_name


class Event(BaseModel):
    """Base of every event: frozen, extra fields refused, with a versioned type name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]
    version: ClassVar[int] = 1
    type: ClassVar[str]
    # Fields holding personal data (comment text, names, handles, e-mail addresses, what was
    # written about them): in a job's stream the store keeps them encrypted with the job's key,
    # and erasing the job shreds that key (figsync_eventstore.personal).
    personal: ClassVar[frozenset[str]] = frozenset()
    # Of those, the fields naming people (a handle, an id, an address, a list of them, or a
    # thread whose comments have an `author`), indexed so `figsync erase --person` finds jobs.
    people: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__name__
        cls.type = type_name(cls.__name__, cls.version)


EVENT_TYPES: dict[str, type[Event]] = {}


def _register(cls: type[Event]) -> type[Event]:
    EVENT_TYPES[cls.type] = cls
    return cls


Priority = Literal["low", "medium", "high"]
Category = Literal["design", "development", "review", "other"]


@_register
class EmailReceived(Event):
    """An inbound notification email was accepted at the edge."""

    personal = frozenset({"sender", "recipients", "subject", "html", "text"})
    people = frozenset({"sender", "recipients"})

    transport: Literal["json", "mime", "mailgun", "sendgrid", "postmark"]
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    html: str
    text: str | None = None
    sent_at: datetime | None = None
    received_at: datetime


@_register
class CommentReceived(Event):
    """A Figma FILE_COMMENT webhook (or a manual sync) reported a comment."""

    personal = frozenset({"author_handle", "author_id", "text", "mentions"})
    people = frozenset({"author_handle", "author_id", "mentions"})

    origin: Literal["webhook", "manual_sync", "reconcile"]
    file_key: str
    file_name: str = ""
    comment_id: str
    parent_id: str | None = None
    author_handle: str = ""
    author_id: str | None = None
    text: str
    mentions: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    webhook_id: str | None = None


class ThreadComment(BaseModel):
    """One comment of a rebuilt thread."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    comment_id: str
    author: str
    text: str
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    reactions: list[str] = Field(default_factory=list)


@_register
class ThreadResolved(Event):
    """The comment was found in Figma and its whole thread rebuilt."""

    personal = frozenset({"author", "text", "mentions", "thread"})
    people = frozenset({"author", "mentions", "thread"})

    file_key: str
    file_name: str
    file_url: str
    comment_id: str
    root_comment_id: str
    author: str
    text: str
    mentions: list[str]
    thread: list[ThreadComment]
    match_score: float | None = None


@_register
class CommentClaimed(Event):
    """A job took a comment (first come wins): later jobs for it end as duplicates."""

    job_id: str
    file_key: str
    comment_id: str


@_register
class ManualSyncCompleted(Event):
    """A manual sync looked through a file and started a job for each untracked mention."""

    file_key: str
    comments_seen: int
    jobs_started: list[str] = Field(default_factory=list)


class TaskSummary(BaseModel):
    """One piece of work in a thread that holds several (what one task page says)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(max_length=60)
    summary: str
    action_items: list[str] = Field(default_factory=list)
    priority: Priority
    category: Category


MAX_TASKS_PER_THREAD = 5


@_register
class SummaryGenerated(Event):
    """The thread was summarised (by the model, from cache, or by the fallback)."""

    personal = frozenset({"title", "summary", "action_items", "tasks"})

    title: str = Field(max_length=60)
    summary: str
    action_items: list[str]
    priority: Priority
    category: Category
    model: str
    prompt_version: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    source: Literal["ai", "cache", "fallback"]
    fallback_reason: str | None = Field(
        default=None,
        description="Why the fallback summary was used (a stable code such as "
        "ai_disabled, budget_exceeded, anthropic.circuit_open); None unless source=fallback.",
    )
    tasks: list[TaskSummary] = Field(
        default_factory=list,
        max_length=MAX_TASKS_PER_THREAD,
        description="When the thread asks for separate pieces of work (the team allows more "
        "than one task per thread): one entry per task page, the first the same as the "
        "summary's own fields. Empty: one task, the summary itself.",
    )


@_register
class EffectIntended(Event):
    """A step is about to cause an external effect; on retry, look for it before redoing it."""

    step: str
    effect: str
    key: str
    context: dict[str, str] = Field(
        default_factory=dict,
        description="What the step decided before the effect, kept for its retries (for the "
        "task page: the Notion target and its database).",
    )


class Assignment(BaseModel):
    """Who a task was assigned to and how sure figsync was, or why no one was."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Literal[
        "assigned", "no_mention", "self_mention", "no_people_property", "property_missing",
        "property_wrong_type", "users_unavailable", "not_in_workspace", "no_match",
        "ambiguous", "below_threshold",
    ]  # fmt: skip
    note: str = Field(description='For people: "assigned to Ann (email match, 100)".')
    mention: str | None = Field(default=None, description="The tracked mention it is about.")
    property: str | None = None
    user_id: str | None = None
    user_name: str = ""
    method: Literal["explicit", "email", "name"] | None = None
    confidence: float | None = Field(default=None, ge=0, le=100)


class TaskPage(BaseModel):
    """Another task page of the job (the thread held several pieces of work)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(
        ge=1, lt=MAX_TASKS_PER_THREAD, description="Its place in the summary's tasks."
    )
    page_id: str
    url: str


@_register
class TaskCreated(Event):
    """The Notion task page exists for this job (its first task's, when there are several:
    the others are in `pages`)."""

    personal = frozenset({"url", "assignee", "pages"})

    page_id: str
    url: str
    data_source_id: str | None = None
    reused: bool = False
    comment_ids: list[str] = Field(
        default_factory=list, description="The thread's comments the page was created with."
    )
    assignee: Assignment | None = Field(
        default=None, description="The assignee decision; None when assigning was not asked for."
    )
    pages: list[TaskPage] = Field(
        default_factory=list, description="The job's other task pages, one per further task."
    )
    target: str | None = Field(
        default=None,
        description='The Notion target the task went to ("default": the team\'s '
        "notion_database_id); None before routing existed.",
    )
    route: str | None = Field(
        default=None,
        description='Which rule chose the target ("route 2 (category design)", '
        '"no route matched").',
    )


@_register
class ConfirmationPosted(Event):
    """The reply with the task link is in the Figma thread."""

    comment_id: str
    reused: bool = False


@_register
class ConfirmationSkipped(Event):
    """The job completed without a Figma reply (the team turned confirmations off)."""

    reason: Literal["confirmations_disabled"]


IgnoreReason = Literal[
    "not_comment_email",
    "mention_not_tracked",
    "duplicate_comment",
    "duplicate_delivery",
    "own_comment",
    "thread_update",
]


@_register
class JobIgnored(Event):
    """The job ended without a task, on purpose."""

    personal = frozenset({"detail"})

    reason: IgnoreReason
    detail: str = ""
    duplicate_of: str | None = None


@_register
class JobFailed(Event):
    """A step gave up: which step, a stable error code, what happened, after how many tries."""

    personal = frozenset({"message", "context"})

    step: str
    code: str
    message: str
    attempts: int
    retryable: bool = False
    context: dict[str, Any] = Field(default_factory=dict)


@_register
class JobDeferred(Event):
    """A step was told to come back much later (e.g. a long Retry-After); it resumes by itself."""

    step: str
    code: str
    until: datetime
    attempts: int = 0


@_register
class JobResumed(Event):
    """A deferred job's time came; its step runs again."""

    step: str


@_register
class JobRetryRequested(Event):
    """Someone asked to re-drive a failed job from its failed step."""

    step: str | None = None
    requested_by: str = ""


@_register
class ManualSyncRequested(Event):
    """Someone asked to find comments in a file that mention tracked handles and have no task."""

    file_key: str
    requested_by: str = ""


@_register
class BudgetExceeded(Event):
    """A team's monthly AI budget is spent; summaries fall back until next month."""

    month: str
    budget_usd: Decimal
    spent_usd: Decimal


@_register
class SummaryPreviewed(Event):
    """An admin tried the team's AI settings (saved or a draft) on a sample thread or a recent
    job's thread: what the model calls cost, counted against the team's monthly AI budget like
    a summary's. On stream `summary-preview:<team>:<preview id>`, once per preview; it holds no
    thread text and no summary (those went back to the admin only)."""

    preview_id: str
    thread: str = Field(description='"sample", or the id of the job whose thread was tried')
    model: str
    prompt_version: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    source: Literal["ai", "fallback"]
    fallback_reason: str | None = None
    draft: bool = Field(default=False, description="unsaved settings were tried")
    requested_by: str = ""


# -- the thread's life after its task exists (both ways) ------------------------------------


@_register
class ThreadUpdated(Event):
    """A later comment in a thread that already has a task: the thread as it now stands.
    Appended to the job that owns the thread; it updates that task, it never makes another."""

    personal = frozenset({"thread"})
    people = frozenset({"thread"})

    file_key: str
    root_comment_id: str
    new_comment_ids: list[str]
    thread: list[ThreadComment]
    origin: Literal["webhook", "email", "manual_sync", "reconcile"]
    from_job: str | None = Field(default=None, description="The job the comment arrived as.")


@_register
class SummaryRefreshed(SummaryGenerated):
    """The summary of the whole thread again, after ThreadUpdated (coalesced: one for several
    updates that came within seconds of each other)."""


@_register
class TaskUpdated(Event):
    """The task page caught up with the thread: new comments appended, properties refreshed."""

    page_id: str
    comments_added: list[str] = Field(default_factory=list)
    properties_updated: list[str] = Field(default_factory=list)


@_register
class TaskStatusChanged(Event):
    """The task's status in Notion changed: seen through a webhook or a poll, or set by figsync
    itself (origin figsync, e.g. because the thread was resolved in Figma)."""

    page_id: str
    status: str
    done: bool
    origin: Literal["notion_webhook", "notion_poll", "figsync"]
    last_edited_time: datetime | None = None
    reason: str = ""


@_register
class FigmaThreadClosed(Event):
    """The thread's root comment was resolved in Figma (found by reconcile)."""

    root_comment_id: str
    resolved_at: datetime


@_register
class NotionPageChanged(Event):
    """A verified Notion webhook said a page changed; its current state is fetched, not trusted
    from the event (events may aggregate or arrive out of order)."""

    page_id: str
    notion_event_id: str
    notion_event_type: str
    timestamp: datetime | None = None


Reaction = Literal["taken", "task_ready", "failed", "done"]


@_register
class CommentReacted(Event):
    """figsync's reactions on a comment changed to show where the task stands."""

    comment_id: str
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    stands_for: Reaction


@_register
class ThreadNotified(Event):
    """figsync told the Figma thread that the task was done in Notion, or reopened."""

    comment_id: str
    about: Literal["done", "reopened"]
    reused: bool = False


@_register
class LifecycleFailed(Event):
    """Keeping the Figma thread in step (a reaction, a done reply) did not work; the task itself
    is unaffected and the next change tries again."""

    personal = frozenset({"message"})

    action: str
    code: str
    message: str
    attempts: int = 1


AlertChannel = Literal["slack"]


@_register
class AlertSent(Event):
    """The team was told (e.g. in Slack) about a failed job or a spent budget."""

    channel: AlertChannel
    about: str = Field(description="The type of the event the alert was about.")
    attempts: int = 1


@_register
class AlertFailed(Event):
    """Telling the team did not work; the job itself is unaffected by it."""

    channel: AlertChannel
    about: str = Field(description="The type of the event the alert was about.")
    code: str
    message: str
    attempts: int = 1


@_register
class TeamSettingsChanged(Event):
    """A team's settings changed. Secrets are never here: only the names of those changed."""

    changes: dict[str, Any]
    secrets_changed: list[str] = Field(default_factory=list)
    secrets_cleared: list[str] = Field(default_factory=list)
    changed_by: str = ""


@_register
class JobErased(Event):
    """The job's personal data is gone: its key was shredded, so every personal field of its
    events reads as erased from now on (the events, their types and counts stay)."""

    reason: Literal["request", "retention"]
    requested_by: str = Field(default="", description="cli, token:<id>, or retention")
    erased_at: datetime


@_register
class AuditRecorded(Event):
    """Someone changed who may reach a team: a token issued, rotated or revoked, a member
    added, changed or removed. On stream `audit:<team>`; never a secret or a token."""

    action: str = Field(description="e.g. token.issued, token.rotated, member.removed")
    actor: str = Field(description="who did it: token:<id> (name), user:<name>, cli")
    target: str = Field(default="", description="what it was done to: a token id, a user")
    details: dict[str, Any] = Field(default_factory=dict)


def event_class(event_type: str) -> type[Event]:
    """The model for a versioned type name; KeyError names the unknown type."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise KeyError(f"unknown event type {event_type!r}") from None


def parse_event(event_type: str, data: dict[str, Any]) -> Event:
    """Validate stored or received data as the event of that type."""
    return event_class(event_type).model_validate(data)
