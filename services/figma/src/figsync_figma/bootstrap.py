"""Composition root of the figma service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import asyncpg
import httpx
import structlog

from figsync_clients.budget import SharedBudgets
from figsync_clients.cache import SharedCache
from figsync_clients.figma import FigmaClient
from figsync_contracts import (
    CommentReceived,
    EmailReceived,
    JobIgnored,
    ManualSyncCompleted,
    ManualSyncRequested,
    ThreadResolved,
)
from figsync_figma import handlers, reconcile
from figsync_figma.links import LinkPolicy, link_client, resolve_tracking_link
from figsync_figma.settings import FigmaSettings
from figsync_runtime import Resources, Step, Wiring
from figsync_runtime.teams import ensure_default_team
from figsync_runtime.threads import ThreadRegistry

log = structlog.get_logger("figsync.figma")


async def build(resources: Resources) -> Wiring:
    """Wire the figma step (emails and webhook comments) and the manual-sync step."""
    settings = resources.settings
    assert isinstance(settings, FigmaSettings)
    await ensure_default_team(resources.teams)
    api_http = httpx.AsyncClient(timeout=settings.figma_timeout_seconds)
    link_http = link_client()
    policy = LinkPolicy(
        max_hops=settings.link_max_hops,
        timeout=settings.link_timeout_seconds,
        test_insecure_hosts=resources.hooks.insecure_hosts,
    )
    cache = SharedCache(resources.pool)
    deps = handlers.Deps(
        figma=FigmaClient(
            api_http,
            settings.figma_api_url,
            budgets=SharedBudgets(resources.pool),
            cache=cache,
        ),  # fmt: skip
        teams=resources.teams,
        resolve_link=functools.partial(resolve_tracking_link, http=link_http, policy=policy),
        match_threshold=settings.match_threshold,
        comments_max_age=settings.comments_cache_seconds,
        threads=ThreadRegistry(resources.pool),
    )
    figma = Step(
        "figma",
        consumes=[EmailReceived, CommentReceived],
        produces=[ThreadResolved, JobIgnored],
        handle=functools.partial(handlers.on_event, deps=deps),
    )
    sync = Step(
        "sync",
        consumes=[ManualSyncRequested],
        produces=[ManualSyncCompleted],
        handle=functools.partial(handlers.on_manual_sync, deps=deps),
        source="/services/figma",
    )

    async def close() -> None:
        await api_http.aclose()
        await link_http.aclose()

    async def forget_old_reads(stop: asyncio.Event) -> None:
        # Shared reads hold comment text: none outlives an hour.
        while not stop.is_set():
            try:
                await cache.forget_old()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("old shared reads not pruned; will try again", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=300)

    async def reconcile_files(stop: asyncio.Event) -> None:
        await reconcile.reconcile_loop(
            deps, resources.store, resources.teams, settings.reconcile_interval_seconds, stop,
            settings.reconcile_grace_seconds,
        )  # fmt: skip

    tasks = [forget_old_reads]
    if settings.reconcile_interval_seconds > 0:
        tasks.append(reconcile_files)
    return Wiring(steps=[figma, sync], on_stop=[close], tasks=tasks)
