"""The notion step: on SummaryGenerated, the job's task page exists exactly once → TaskCreated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog

from figsync_contracts import (
    Assignment,
    SummaryGenerated,
    TaskCreated,
    TaskPage,
    ThreadResolved,
    ThreadUpdated,
)
from figsync_eventstore import RecordedEvent
from figsync_notion import assignee, mapping
from figsync_notion.mapping import Schema, Task
from figsync_notion.ports import NotionPages, NotionRefused
from figsync_notion.schema import Schemas, refused, unauthorized
from figsync_runtime import PermanentError, StepContext
from figsync_runtime.routing import DEFAULT_TARGET, Routed
from figsync_runtime.teams import TeamSettings

log = structlog.get_logger("figsync.notion")

EFFECT = "notion.page"


class Teams(Protocol):
    async def get(self, team: str) -> TeamSettings | None: ...

    async def get_secret(self, team: str, name: str) -> str | None: ...


@dataclass
class NotionTasks:
    """What the step needs: Notion, the teams, the schema cache and the sync-id property."""

    api: NotionPages
    teams: Teams
    schemas: Schemas
    # Called once Notion created a page, before TaskCreated is recorded (crash tests' hook).
    after_create: Callable[[], None] = lambda: None

    @property
    def sync_property(self) -> str:
        return self.schemas.sync_property


@dataclass(frozen=True)
class Target:
    team: str
    token: str
    database_id: str
    mapping: dict[str, str]
    settings: TeamSettings | None = None
    name: str = DEFAULT_TARGET
    rule: str = "default"


async def team_of(teams: Teams, team: str) -> tuple[TeamSettings, str]:
    """The team's settings and Notion token, or an error that says which is missing."""
    settings = await teams.get(team)
    if settings is None:
        raise PermanentError("notion.team_not_found", f"there is no team {team!r}")
    token = await teams.get_secret(team, "notion_token")
    if not token:
        raise unauthorized(team, "no notion_token is set for the team")
    return settings, token


def target_in(settings: TeamSettings, token: str, routed: Routed | None, name: str) -> Target:
    """The Target of a routing decision, or an error that says what is not configured."""
    team = settings.team
    if routed is None:
        raise PermanentError(
            "notion.target_missing",
            f"team {team!r} has no Notion target {name!r} any more (renamed or removed), and "
            "the job's task page was meant for it; add the target back under notion_targets, "
            "then retry the job",
            context={"target": name},
        )
    if not routed.database_id:
        raise PermanentError(
            "notion.database_not_configured",
            f"team {team!r} has no notion_database_id; set it to the id of the Notion database "
            "(or data source) tasks go to",
        )
    return Target(team, token, routed.database_id, routed.field_mapping, settings,
                  routed.target, routed.rule)  # fmt: skip


async def target_of(teams: Teams, team: str, name: str = DEFAULT_TARGET) -> Target:
    """The team's token with the database and mapping of its target `name`."""
    settings, token = await team_of(teams, team)
    return target_in(settings, token, settings.target(name), name)


async def task_target(teams: Teams, team: str, created: dict[str, Any]) -> Target:
    """Where a job's task page is: the target its TaskCreated names, at the data source the page
    was created in (the target's mapping as it is now; the default's for a target since removed)."""
    settings, token = await team_of(teams, team)
    name = created.get("target") or DEFAULT_TARGET
    routed = settings.target(name) or settings.target(DEFAULT_TARGET)
    assert routed is not None
    database = created.get("data_source_id") or routed.database_id
    return target_in(settings, token, replace(routed, database_id=database), name)


async def routed_target(ctx: StepContext, teams: Teams, task: Task) -> Target:
    """The task's target, decided once per job: the first attempt routes it and records the
    decision with its intent; every retry uses that decision, whatever the settings say now,
    so that the page is looked for, and made, in one database only."""
    settings, token = await team_of(teams, ctx.team)
    intents = ctx.intents(EFFECT)
    # An intent without a decision is older than routing: its page went to the default target.
    decided = next((i.context for i in intents if i.context.get("target")), None)
    if decided is None and intents:
        decided = {"target": DEFAULT_TARGET}
    if decided is None:
        routed = settings.route(file_key=task.thread.file_key, category=task.summary.category,
                                priority=task.summary.priority)  # fmt: skip
        return target_in(settings, token, routed, routed.target)
    name = decided["target"]
    routed = settings.target(name)
    if routed is not None:
        routed = replace(routed, database_id=decided.get("database_id") or routed.database_id,
                         rule=decided.get("rule") or routed.rule)  # fmt: skip
    return target_in(settings, token, routed, name)


def current_thread(history: list[RecordedEvent]) -> ThreadResolved | None:
    """The thread as the job knows it now: its first rebuild, with the comments of its latest
    update (replies that came before the task existed are on the page it creates)."""
    resolved = next((e for e in reversed(history) if e.type == ThreadResolved.type), None)
    if resolved is None:
        return None
    thread = ThreadResolved.model_validate(resolved.data)
    update = next((e for e in reversed(history) if e.type == ThreadUpdated.type), None)
    if update is not None:
        comments = ThreadUpdated.model_validate(update.data).thread
        thread = thread.model_copy(update={"thread": comments})
    return thread


def task_of(ctx: StepContext) -> Task:
    summary = ctx.event()
    assert isinstance(summary, SummaryGenerated)
    resolved = [e for e in ctx.history if e.type == ThreadResolved.type]
    thread = current_thread(ctx.history)
    if not resolved or thread is None:
        raise PermanentError(
            "notion.thread_missing", "the job has a summary but no resolved Figma thread"
        )
    created = next(
        (c.created_at for c in thread.thread if c.comment_id == thread.comment_id and c.created_at),
        resolved[-1].recorded_at,
    )
    return Task(job_id=ctx.job_id, thread=thread, summary=summary, created_at=created)


def tasks_of(ctx: StepContext) -> list[Task]:
    """The job's tasks: one, or one per piece of work when the summary holds several."""
    first = task_of(ctx)
    summary = first.summary
    if len(summary.tasks) <= 1:
        return [first]
    return [
        replace(first, summary=summary.model_copy(update=part.model_dump()), index=i)
        for i, part in enumerate(summary.tasks)
    ]


@dataclass(frozen=True)
class Made:
    """One task page as the step left it."""

    task: Task
    page: dict[str, Any]
    schema: Schema
    decision: Assignment | None
    reused: bool


async def create_task(ctx: StepContext, deps: NotionTasks) -> None:
    """Create the job's task page (or one per task when the thread holds several), or find
    the ones an earlier attempt created, then record TaskCreated once for all of them. Every
    page goes to one target, routed by the first task."""
    tasks = tasks_of(ctx)
    target = await routed_target(ctx, deps.teams, tasks[0])
    made = [await _page(ctx, deps, target, task) for task in tasks]
    first = made[0]
    await ctx.emit(
        TaskCreated(
            page_id=first.page["id"],
            url=first.page.get("url") or "",
            data_source_id=first.schema.data_source_id,
            reused=first.reused,
            comment_ids=[c.comment_id for c in first.task.thread.thread],
            assignee=first.decision,
            pages=[
                TaskPage(index=m.task.index, page_id=m.page["id"], url=m.page.get("url") or "")
                for m in made[1:]
            ],
            target=target.name,
            route=target.rule,
        )
    )
    log.info("task page ready", pages=len(made), page_id=first.page["id"], target=target.name,
             reused=first.reused, assignee=first.decision.reason if first.decision else None)  # fmt: skip


async def _page(ctx: StepContext, deps: NotionTasks, target: Target, task: Task) -> Made:
    """One task page, exactly once: an intent (keyed by the page's sync id, with the routing
    decision) before creating it; after a crash, the page that carries the sync id is found
    and completed instead."""
    token = target.token
    schema = await _schema(deps, target)
    properties, decision = await _properties(deps, target, schema, task)
    blocks = mapping.page_blocks(task)

    page: dict[str, Any] | None = None
    intended = any(i.key == task.sync_id for i in ctx.intents(EFFECT))
    if intended:
        # An earlier attempt was about to create the page: it may have, and died before saying so.
        found = await deps.api.find_pages(token, schema.data_source_id, deps.sync_property,
                                          task.sync_id)  # fmt: skip
        page = found[0] if found else None
        if len(found) > 1:
            log.warning("several pages carry this sync id", pages=[p["id"] for p in found])
    if page is not None:
        done = await deps.api.count_children(token, page["id"])
        rest = mapping.batches(blocks[done:], first_budget=mapping.MAX_REQUEST_BYTES)
        reused = True
    else:
        if not intended:
            routing = {"target": target.name, "database_id": target.database_id,
                       "rule": target.rule}  # fmt: skip
            await ctx.record_intent(EFFECT, key=task.sync_id, context=routing)
        page, rest, schema, decision = await _create(
            deps, target, schema, task, (properties, decision), blocks
        )
        deps.after_create()
        reused = False
    for batch in rest:
        if batch:
            await deps.api.append_children(token, page["id"], batch)
    return Made(task, page, schema, decision, reused)


async def _schema(deps: NotionTasks, target: Target, *, fresh: bool = False) -> Schema:
    return await deps.schemas.get(target.team, target.token, target.database_id, fresh=fresh)


async def _properties(
    deps: NotionTasks, target: Target, schema: Schema, task: Task
) -> tuple[dict[str, Any], Assignment | None]:
    """The page's properties, with its assignee (and the decision about it) when the team
    assigns tasks."""
    bindings, problems, notes = mapping.plan(schema, target.mapping)
    if problems:
        raise problems[0].error()
    for note in notes:
        log.info("mapping default skipped", note=note)
    bindings = mapping.check_options(schema, bindings, task)
    prop, decision = assignee.people_property(
        schema.properties,
        target.settings.notion_assignee_property if target.settings else "",
        taken={b.prop for b in bindings if b.explicit},
    )
    # The assignee property holds the assignee only: no field of the mapping goes there too.
    bindings = [b for b in bindings if b.prop != prop]
    directory: list[mapping.Person] | None = []
    problem = ""
    if prop is not None or any(b.kind == "people" for b in bindings):
        try:
            directory = await deps.api.users(target.token)
        except NotionRefused as error:
            # The integration may lack "Read user information": the task is made all the same.
            log.warning("cannot list Notion users; people left empty", error=error.message)
            directory, problem = None, f"{error.status} {error.code}: {error.message}"
    properties = mapping.build_properties(bindings, task, deps.sync_property, directory or [])
    if prop is not None and target.settings is not None:
        settings = target.settings
        decision = assignee.decide(
            task.thread.mentions, task.thread.author, settings.assignee_map, directory,
            settings.assignee_match_threshold, prop, problem,
        )  # fmt: skip
        if (value := assignee.property_value(decision)) is not None:
            properties[prop] = value
    return properties, decision


async def _create(
    deps: NotionTasks,
    target: Target,
    schema: Schema,
    task: Task,
    planned: tuple[dict[str, Any], Assignment | None],
    blocks: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[list[dict[str, Any]]], Schema, Assignment | None]:
    """Create the page with as much of the body as fits; returns the batches left to append.
    A refusal on a cached schema is checked once against a fresh one (the database changed)."""
    properties, decision = planned
    for fresh in (False, True):
        parent = {"type": "data_source_id", "data_source_id": schema.data_source_id}
        head = {"parent": parent, "properties": properties}
        budget = mapping.MAX_REQUEST_BYTES - mapping.size_of(head)
        first, *rest = mapping.batches(blocks, first_budget=budget)
        try:
            page = await deps.api.create_page(target.token, {**head, "children": first})
            return page, rest, schema, decision
        except NotionRefused as error:
            if error.status == 401:
                raise unauthorized(target.team, error.message) from error
            if error.status in (400, 404) and not fresh:
                schema = await _schema(deps, target, fresh=True)
                properties, decision = await _properties(deps, target, schema, task)
                continue
            raise creation_refused(error, schema) from error
    raise AssertionError("unreachable")


_NOT_A_PROPERTY = re.compile(r"^(?P<prop>.+?) is not a property that exists")
_EXPECTED = re.compile(r"^(?P<prop>.+?) is expected to be (?P<type>\w+)")
_OPTION = re.compile(
    r"Invalid (?P<kind>select|status|multi_select) option[^\"]*\"(?P<option>[^\"]*)\"(?: does not "
    r"exist)? for (?P<prop>[^.]+)"
)


def creation_refused(error: NotionRefused, schema: Schema) -> PermanentError:
    """Notion's refusal of a page, as an error a user can act on."""
    where = f'the database "{schema.title}"'
    if error.status == 404:
        return PermanentError(
            "notion.database_not_shared",
            f'share the database "{schema.title}" with the integration (it no longer sees it)',
            context={"database": schema.title},
        )
    message = error.message
    if m := _NOT_A_PROPERTY.search(message):
        return PermanentError(
            "notion.property_missing",
            f'{where} has no property "{m["prop"]}"; add it in Notion or change the team\'s '
            "notion_field_mapping",
            context={"property": m["prop"], "database": schema.title},
        )
    if m := _EXPECTED.search(message):
        return PermanentError(
            "notion.property_wrong_type",
            f'"{m["prop"]}" in {where} does not take this value (Notion expects {m["type"]}); '
            "change its type in Notion or map it to another field",
            context={"property": m["prop"], "expected": [m["type"]]},
        )
    if m := _OPTION.search(message):
        return PermanentError(
            "notion.select_option_missing",
            f'the property "{m["prop"]}" of {where} has no option "{m["option"]}" and Notion '
            f"would not add it ({message}); add the option in Notion or map another field",
            context={"property": m["prop"], "option": m["option"], "database": schema.title},
        )
    return refused(error, f"the task page for {where}")
