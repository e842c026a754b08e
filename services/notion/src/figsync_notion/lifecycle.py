"""The task after it exists: thread updates reach the page, the page's status reaches the job.

- SummaryRefreshed (after ThreadUpdated) → the new comments and the summary appended to the
  page, its properties refreshed → TaskUpdated. Exactly once: an intent first, and on a retry
  the page's blocks are searched for each comment's Figma link.
- FigmaThreadClosed (the root was resolved in Figma) → the status set to the team's done value
  → TaskStatusChanged(origin=figsync).
- NotionPageChanged (a verified webhook) and the poll → the page's current status read from
  Notion → TaskStatusChanged in the job when it differs from what the job knows. A status
  figsync set itself (or is setting: its intent is recorded) is never news: no echo.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from figsync_contracts import (
    EffectIntended,
    FigmaThreadClosed,
    JobFailed,
    NotionPageChanged,
    SummaryRefreshed,
    TaskCreated,
    TaskStatusChanged,
    TaskUpdated,
    ThreadResolved,
    ThreadUpdated,
)
from figsync_eventstore import EventStore, RecordedEvent
from figsync_notion import mapping
from figsync_notion.handlers import (
    NotionTasks,
    Target,
    _schema,
    current_thread,
    target_in,
    task_target,
    team_of,
)
from figsync_notion.mapping import Schema, Task
from figsync_notion.ports import NotionRefused
from figsync_notion.schema import plain_text, refused, unauthorized
from figsync_runtime import PermanentError, StepContext, StepError, WaitError
from figsync_runtime.routing import DEFAULT_TARGET
from figsync_runtime.steps import append_after, every
from figsync_runtime.teams import TeamRepository, TeamSettings
from figsync_runtime.threads import ThreadRegistry

log = structlog.get_logger("figsync.notion.lifecycle")

UPDATE_EFFECT = "notion.update"
STATUS_EFFECT = "notion.status"
# What a thread update refreshes; the status, people and dates stay as the team left them.
REFRESHED_FIELDS = frozenset({"title", "summary", "action_items", "priority", "category", "thread"})
DONE_WORDS = frozenset({"done", "complete", "completed", "closed", "finished"})
SOURCE = "/services/notion/lifecycle"


@dataclass
class Lifecycle:
    tasks: NotionTasks
    threads: ThreadRegistry


def _latest(history: list[RecordedEvent], *types: str) -> RecordedEvent | None:
    return next((e for e in reversed(history) if e.type in types), None)


def on_page(history: list[RecordedEvent]) -> set[str]:
    """Comments the page already shows: the thread as it stood when the page was created, then
    every update's additions."""
    shown: set[str] = set()
    current: set[str] = set()
    for recorded in history:
        if recorded.type in (ThreadResolved.type, ThreadUpdated.type):
            current = {c["comment_id"] for c in recorded.data.get("thread", [])}
            if recorded.type == ThreadResolved.type:
                shown |= current
        elif recorded.type == TaskCreated.type:
            shown |= set(recorded.data.get("comment_ids") or current)
        elif recorded.type == TaskUpdated.type:
            shown.update(recorded.data.get("comments_added", []))
    return shown


def task_pages(created: RecordedEvent) -> list[tuple[str, int]]:
    """The job's task pages with their place among its tasks: the first, then the others."""
    others = [(p["page_id"], int(p["index"])) for p in created.data.get("pages") or []]
    return [(created.data["page_id"], 0), *others]


def part_of(refreshed: SummaryRefreshed, index: int) -> SummaryRefreshed | None:
    """What a refresh says of the task at `index`: the summary itself for a single task, its
    entry when it holds several; None when it no longer has that many (the page keeps its
    properties and still gets the thread's new comments)."""
    if not refreshed.tasks:
        return refreshed if index == 0 else None
    if index >= len(refreshed.tasks):
        return None
    return refreshed.model_copy(update=refreshed.tasks[index].model_dump())


async def update_task(ctx: StepContext, deps: Lifecycle) -> None:
    """SummaryRefreshed: each task page catches up with the thread, once (a thread with
    several tasks updates its pages, task by task; it never adds one)."""
    refreshed = ctx.event()
    assert isinstance(refreshed, SummaryRefreshed)
    created = _latest(ctx.history, TaskCreated.type)
    if created is None:
        if _latest(ctx.history, JobFailed.type) is not None:
            # No task to update; a retry of the job creates it from the thread as it is then.
            log.info("thread update for a job without a task; nothing to update")
            return
        raise WaitError("notion.task_pending", "the task is not created yet", retry_after=5.0)
    thread = current_thread(ctx.history)
    assert thread is not None
    target = await task_target(deps.tasks.teams, ctx.team, created.data)
    schema = await _schema(deps.tasks, target)
    shown = on_page(ctx.history)
    new = [c for c in thread.thread if c.comment_id not in shown]
    retry = any(i.key == ctx.trigger.id for i in ctx.intents(UPDATE_EFFECT))
    if new and not retry:
        await ctx.record_intent(UPDATE_EFFECT, key=ctx.trigger.id)
    updated: set[str] = set()
    for page_id, index in task_pages(created):
        part = part_of(refreshed, index)
        task = Task(job_id=ctx.job_id, thread=thread, summary=part or refreshed, index=index)
        missing = new
        if new and retry:
            # An earlier attempt may have appended some: the page's links say which.
            blocks = json.dumps(await deps.tasks.api.children(target.token, page_id))
            missing = [c for c in new if mapping.comment_link(task, c.comment_id) not in blocks]
        properties = await _refreshed_properties(deps.tasks, target, schema, task) if part else {}
        try:
            if missing:
                blocks = mapping.update_blocks(task, missing, ctx.clock.now())
                for batch in mapping.batches(blocks, first_budget=mapping.MAX_REQUEST_BYTES):
                    if batch:
                        await deps.tasks.api.append_children(target.token, page_id, batch)
            if properties:
                await deps.tasks.api.update_page(target.token, page_id, properties)
        except NotionRefused as error:
            raise page_refused(error, ctx.team, page_id, "updating the task page") from error
        updated |= set(properties)
    await ctx.emit(
        TaskUpdated(
            page_id=created.data["page_id"],
            comments_added=[c.comment_id for c in new],
            properties_updated=sorted(updated),
        )
    )


async def _refreshed_properties(
    deps: NotionTasks, target: Target, schema: Schema, task: Task
) -> dict[str, Any]:
    bindings, problems, _ = mapping.plan(schema, target.mapping)
    if problems:
        raise problems[0].error()
    bindings = [b for b in bindings if b.task_field in REFRESHED_FIELDS and b.kind != "people"]
    bindings = mapping.check_options(schema, bindings, task)
    properties = mapping.build_properties(bindings, task, deps.sync_property)
    properties.pop(deps.sync_property, None)
    return properties


def page_refused(error: NotionRefused, team: str, page_id: str, doing: str) -> PermanentError:
    """Notion's refusal to change a task page: gone (deleted, or no longer shared) or other."""
    if error.status == 404:
        return PermanentError(
            "notion.task_page_gone",
            f"the task page {page_id} is gone from Notion (deleted, or no longer shared with the "
            "integration); the thread's updates have nowhere to go",
            context={"page_id": page_id},
        )
    if error.status == 401:
        return unauthorized(team, error.message)
    return refused(error, doing)


def status_binding(schema: Schema, team_mapping: dict[str, str]) -> mapping.Binding | None:
    bindings, _, _ = mapping.plan(schema, team_mapping)
    return next(
        (b for b in bindings if b.task_field == "status" and b.kind in ("status", "select")),
        None,
    )


def done_values(schema: Schema, prop: str, team: TeamSettings) -> list[str]:
    """The values that mean done: the team's, else the status property's Complete group, else
    the options whose name says done."""
    if team.notion_done_status:
        return [team.notion_done_status]
    definition = schema.properties.get(prop, {})
    body = definition.get(definition.get("type", ""), {}) or {}
    options = {o.get("id"): o.get("name") for o in body.get("options", [])}
    for group in body.get("groups", []):
        if str(group.get("name", "")).casefold() == "complete":
            names = [options[i] for i in group.get("option_ids", []) if options.get(i)]
            if names:
                return names
    return [n for n in options.values() if n and n.casefold() in DONE_WORDS]


def status_of(page: dict[str, Any], prop: str) -> str | None:
    value = (page.get("properties") or {}).get(prop) or {}
    chosen = value.get(value.get("type", "")) or value.get("status") or value.get("select")
    return chosen.get("name") if isinstance(chosen, dict) else None


async def close_task(ctx: StepContext, deps: Lifecycle) -> None:
    """FigmaThreadClosed: the task is set done (the team's done value), once."""
    closed = ctx.event()
    assert isinstance(closed, FigmaThreadClosed)
    created = _latest(ctx.history, TaskCreated.type)
    team = await deps.tasks.teams.get(ctx.team) or TeamSettings(team=ctx.team)
    if created is None or not team.figma_resolve_completes_task:
        return
    last = _latest(ctx.history, TaskStatusChanged.type)
    if last is not None and last.data.get("done"):
        return
    target = await task_target(deps.tasks.teams, ctx.team, created.data)
    schema = await _schema(deps.tasks, target)
    binding = status_binding(schema, target.mapping)
    values = done_values(schema, binding.prop, team) if binding else []
    if binding is None or not values:
        log.warning("the database has no status that means done; the task stays as it is")
        return
    page_id = created.data["page_id"]
    if not any(i.key == values[0] for i in ctx.intents(STATUS_EFFECT)):
        await ctx.record_intent(STATUS_EFFECT, key=values[0])
    for each, _ in task_pages(created):  # setting a status twice is harmless: no check
        try:
            await deps.tasks.api.update_page(
                target.token, each, {binding.prop: {binding.kind: {"name": values[0]}}}
            )
        except NotionRefused as error:
            raise page_refused(error, ctx.team, each, "setting the task done") from error
    await ctx.emit(
        TaskStatusChanged(
            page_id=page_id,
            status=values[0],
            done=True,
            origin="figsync",
            reason="resolved in Figma",
        )  # fmt: skip
    )
    await deps.threads.set_open(ctx.job_id, False)


async def watch_page(ctx: StepContext, deps: Lifecycle) -> None:
    """NotionPageChanged: read the page as it is now and tell its job what changed."""
    changed = ctx.event()
    assert isinstance(changed, NotionPageChanged)
    _, token = await team_of(deps.tasks.teams, ctx.team)
    try:
        page = await deps.tasks.api.page(token, changed.page_id)
    except NotionRefused as error:
        log.info("changed page cannot be read; ignored", page_id=changed.page_id,
                 status=error.status)  # fmt: skip
        return
    await observe(deps, ctx.store, ctx.team, page, origin="notion_webhook")


async def observe(
    deps: Lifecycle,
    store: EventStore,
    team_id: str,
    page: dict[str, Any],
    *,
    origin: str,
) -> bool:
    """Record the page's status in its job if the job does not know it yet; True if it did."""
    job_id = plain_text(
        ((page.get("properties") or {}).get(deps.tasks.sync_property) or {}).get("rich_text")
    ).strip()
    if not job_id:
        return False
    history = await store.read_stream(job_id)
    if not history or history[0].metadata.get("team") != team_id:
        return False  # not this team's job (two teams may share a database)
    created = _latest(history, TaskCreated.type)
    if created is None or created.data.get("page_id", "").replace("-", "") != str(
        page.get("id", "")
    ).replace("-", ""):
        return False
    # The page's own target (pages of every target are watched): its mapping says its status.
    target = await task_target(deps.tasks.teams, team_id, created.data)
    schema = await _schema(deps.tasks, target)
    binding = status_binding(schema, target.mapping)
    status = status_of(page, binding.prop) if binding else None
    if binding is None or status is None:
        return False
    team = await deps.tasks.teams.get(team_id) or TeamSettings(team=team_id)
    done = status in done_values(schema, binding.prop, team)
    last = _latest(history, TaskStatusChanged.type)
    if last is None:
        if not done and status == mapping.INITIAL_STATUS:
            return False
    elif last.data.get("status") == status:
        return False
    if _setting_it(history, last, status):
        return False  # figsync is setting this very status; the closing step records it
    event = TaskStatusChanged(
        page_id=created.data["page_id"], status=status, done=done, origin=origin,  # type: ignore[arg-type]
        last_edited_time=page.get("last_edited_time"),
    )  # fmt: skip
    await append_after(store, job_id, history, event, team=team_id, source=SOURCE)
    await deps.threads.set_open(job_id, not done)
    log.info("task status changed in Notion", job_id=job_id, status=status, done=done,
             origin=origin)  # fmt: skip
    return True


def _setting_it(history: list[RecordedEvent], last: RecordedEvent | None, status: str) -> bool:
    after = last.position if last is not None else -1
    return any(
        e.type == EffectIntended.type
        and e.position > after
        and e.data.get("effect") == STATUS_EFFECT
        and e.data.get("key") == status
        for e in history
    )


# -- the poll ---------------------------------------------------------------------------------


async def take_poll(pool: asyncpg.Pool, team: str, interval_seconds: float) -> datetime | None:
    """Whether this replica polls the team now; returns where the last poll got to."""
    async with pool.acquire() as conn:
        return await conn.fetchval(
            """INSERT INTO notion_poll_cursors AS c (team, polled_from, taken_until)
               VALUES ($1, now() - make_interval(secs => $2), now() + make_interval(secs => $3))
               ON CONFLICT (team) DO UPDATE SET taken_until = EXCLUDED.taken_until
               WHERE c.taken_until <= now()
               RETURNING polled_from""",
            team, float(max(interval_seconds, 3600)), float(interval_seconds) * 0.9,
        )  # fmt: skip


async def poll_team(deps: Lifecycle, store: EventStore, pool: asyncpg.Pool, team_id: str,
                    interval_seconds: float) -> int:  # fmt: skip
    """Look at the pages edited since the last poll in each of the team's databases (the
    default's and every target's); returns status changes recorded."""
    team = await deps.tasks.teams.get(team_id)
    token = await deps.tasks.teams.get_secret(team_id, "notion_token")
    if team is None or not token:
        return 0
    targets = []
    for name in [DEFAULT_TARGET, *(t.name for t in team.notion_targets)]:
        routed = team.target(name)
        if routed is not None and routed.database_id:
            targets.append(target_in(team, token, routed, name))
    if not targets:
        return 0
    since = await take_poll(pool, team_id, interval_seconds)
    if since is None:
        return 0
    started = datetime.now(UTC)
    changed, polled, failed = 0, set(), None
    for target in targets:
        try:
            schema = await _schema(deps.tasks, target)
            if schema.data_source_id in polled:
                continue  # the default's database is also a target's
            polled.add(schema.data_source_id)
            # Notion rounds last_edited_time down to the minute: look a minute further back.
            pages = await deps.tasks.api.edited_since(
                token, schema.data_source_id, deps.tasks.sync_property,
                since - timedelta(minutes=1),
            )  # fmt: skip
            for page in pages:
                changed += await observe(deps, store, team_id, page, origin="notion_poll")
        except StepError as error:  # one broken target does not hold back the others
            failed = error
            log.warning("Notion poll of a target failed", team=team_id, target=target.name,
                        code=error.code, error_message=error.message)  # fmt: skip
    if failed is not None:
        raise failed  # the cursor stays: the next interval looks at this window again
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE notion_poll_cursors SET polled_from = $2 WHERE team = $1", team_id, started
        )
    return changed


async def poll_loop(
    deps: Lifecycle,
    store: EventStore,
    pool: asyncpg.Pool,
    teams: TeamRepository,
    interval_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Every interval, poll each team's data source (one replica per team and interval)."""
    async for _ in every(max(1.0, interval_seconds / 5), stop):
        for team_id in await teams.teams():
            try:
                await poll_team(deps, store, pool, team_id, interval_seconds)
            except StepError as error:
                log.warning("Notion poll failed; next interval tries again", team=team_id,
                            code=error.code, error_message=error.message)  # fmt: skip
