"""Composition root of the notion service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

import asyncio
import functools

import asyncpg

from figsync_clients.budget import LocalBudgets, SharedBudgets
from figsync_clients.cache import SharedCache
from figsync_contracts import (
    FigmaThreadClosed,
    NotionPageChanged,
    SummaryGenerated,
    SummaryRefreshed,
    TaskCreated,
    TaskStatusChanged,
    TaskUpdated,
)
from figsync_notion import lifecycle
from figsync_notion.adapters.notion_api import NotionApi
from figsync_notion.check_http import check_app
from figsync_notion.handlers import NotionTasks, create_task
from figsync_notion.schema import Schemas
from figsync_notion.settings import NotionSettings
from figsync_runtime import Resources, Step, Wiring
from figsync_runtime.hooks import NO_HOOKS, Hooks
from figsync_runtime.secrets import DEVELOPMENT_KEY
from figsync_runtime.teams import TeamRepository, ensure_default_team
from figsync_runtime.threads import ThreadRegistry


def notion_api(settings: NotionSettings, pool: asyncpg.Pool | None = None) -> NotionApi:
    """The Notion adapter; with a pool, its budget, breaker and users list are shared by every
    replica."""
    limits = {
        "breaker_threshold": settings.notion_breaker_threshold,
        "breaker_reset": settings.notion_breaker_reset_seconds,
    }
    return NotionApi(
        settings.notion_api_url,
        requests_per_second=settings.notion_requests_per_second,
        burst=settings.notion_burst,
        timeout_seconds=settings.notion_timeout_seconds,
        wait_budget_seconds=settings.notion_wait_budget_seconds,
        budgets=SharedBudgets(pool, **limits) if pool is not None else LocalBudgets(**limits),
        cache=SharedCache(pool) if pool is not None else None,
        users_ttl_seconds=settings.notion_users_ttl_seconds,
    )


def notion_tasks(
    settings: NotionSettings, api: NotionApi, teams: TeamRepository, hooks: Hooks = NO_HOOKS
) -> NotionTasks:
    return NotionTasks(
        api=api,
        teams=teams,
        schemas=Schemas(
            api,
            ttl=settings.notion_schema_ttl_seconds,
            sync_property=settings.notion_sync_property,
            add_sync_property=settings.notion_add_sync_property,
        ),
        after_create=hooks.notion_after_create,
    )


def task_step(deps: NotionTasks) -> Step:
    return Step(
        "notion",
        consumes=[SummaryGenerated],
        produces=[TaskCreated],
        handle=functools.partial(create_task, deps=deps),
    )


def lifecycle_steps(deps: lifecycle.Lifecycle) -> list[Step]:
    """The task after it exists: thread updates, Figma resolutions, Notion status changes."""
    return [
        Step("notion-update", consumes=[SummaryRefreshed], produces=[TaskUpdated],
             handle=functools.partial(lifecycle.update_task, deps=deps), source="/services/notion"),
        Step("notion-close", consumes=[FigmaThreadClosed], produces=[TaskStatusChanged],
             handle=functools.partial(lifecycle.close_task, deps=deps), source="/services/notion"),
        Step("notion-watch", consumes=[NotionPageChanged], produces=[TaskStatusChanged],
             handle=functools.partial(lifecycle.watch_page, deps=deps), source="/services/notion"),
    ]  # fmt: skip


async def build(resources: Resources) -> Wiring:
    """Wire the notion step: SummaryGenerated → the task page → TaskCreated; and the check
    of a database and mapping that the dashboard runs over HTTP."""
    settings = resources.settings
    assert isinstance(settings, NotionSettings)
    await ensure_default_team(resources.teams)
    api = notion_api(settings, resources.pool)
    tasks = notion_tasks(settings, api, resources.teams, resources.hooks)
    step = task_step(tasks)
    life = lifecycle.Lifecycle(tasks, ThreadRegistry(resources.pool))

    async def poll_notion(stop: asyncio.Event) -> None:
        await lifecycle.poll_loop(life, resources.store, resources.pool, resources.teams,
                                  settings.notion_poll_interval_seconds, stop)  # fmt: skip

    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else DEVELOPMENT_KEY
    app = check_app(
        resources.teams, api, secret_key,
        sync_property=settings.notion_sync_property,
        add_sync_property=settings.notion_add_sync_property,
    )  # fmt: skip
    polls = [poll_notion] if settings.notion_poll_interval_seconds > 0 else []
    return Wiring(steps=[step, *lifecycle_steps(life)], app=app, tasks=polls,
                  on_stop=[api.aclose])  # fmt: skip
