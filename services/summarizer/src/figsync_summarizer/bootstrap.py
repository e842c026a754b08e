"""Composition root of the summarizer service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from figsync_clients.budget import SharedBudgets
from figsync_contracts import SummaryGenerated, SummaryRefreshed, ThreadResolved, ThreadUpdated
from figsync_eventstore import EventStore
from figsync_runtime import Resources, Step, Wiring
from figsync_runtime.logs import register_secret
from figsync_runtime.secrets import DEVELOPMENT_KEY
from figsync_summarizer.adapters.anthropic_api import AnthropicMessages
from figsync_summarizer.adapters.postgres import MonthlySpend, SummaryCache
from figsync_summarizer.handlers import SOURCE, Summarize, Teams
from figsync_summarizer.preview import Previews, preview_app
from figsync_summarizer.settings import SummarizerSettings

log = structlog.get_logger("figsync.summarizer")


def build_handler(
    settings: SummarizerSettings,
    pool: asyncpg.Pool,
    store: EventStore,
    teams: Teams,
    messages: AnthropicMessages | None = None,
    cache: SummaryCache | None = None,
) -> Summarize:
    """The summarize handler over the real adapters (the sandbox stands in for Anthropic)."""
    return Summarize(
        settings=settings,
        store=store,
        teams=teams,
        messages=messages or AnthropicMessages(settings),
        cache=cache or SummaryCache(pool, settings.summary_cache_ttl_seconds),
        spend=MonthlySpend(pool),
        budgets=SharedBudgets(
            pool,
            breaker_threshold=settings.circuit_failure_threshold,
            breaker_reset=settings.circuit_reset_seconds,
        ),
    )


def summarize_step(handler: Summarize) -> Step:
    """ThreadResolved in, SummaryGenerated out (always: the fallback covers every failure)."""
    return Step(
        "summarizer",
        consumes=[ThreadResolved, ThreadUpdated],
        produces=[SummaryGenerated, SummaryRefreshed],
        handle=handler,
        source=SOURCE,
    )


async def build(resources: Resources) -> Wiring:
    """Wire the summarizer: one step on ThreadResolved, a loop that drops expired summaries, and
    the dashboard's preview route."""
    settings = resources.settings
    assert isinstance(settings, SummarizerSettings), "main passes SummarizerSettings"
    if settings.anthropic_api_key is not None:
        register_secret(settings.anthropic_api_key.get_secret_value())
    if settings.longest_delivery_seconds() >= settings.ack_wait_seconds:
        log.warning(
            "a delivery can outlast the ack wait; lower FIGSYNC_AI_TIMEOUT_SECONDS or "
            "FIGSYNC_AI_SDK_MAX_RETRIES, or raise FIGSYNC_ACK_WAIT_SECONDS",
            longest_delivery_seconds=settings.longest_delivery_seconds(),
            ack_wait_seconds=settings.ack_wait_seconds,
        )
    messages = AnthropicMessages(settings)
    cache = SummaryCache(resources.pool, settings.summary_cache_ttl_seconds)
    handler = build_handler(
        settings, resources.pool, resources.store, resources.teams, messages, cache
    )

    async def purge_expired_summaries(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                removed = await cache.purge_expired()
                if removed:
                    log.info("expired summaries removed from the cache", count=removed)
            except Exception:
                log.exception("could not purge the summary cache; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.summary_cache_purge_interval_seconds)

    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else DEVELOPMENT_KEY
    return Wiring(
        steps=[summarize_step(handler)],
        app=preview_app(Previews(handler, resources.store), secret_key),
        tasks=[purge_expired_summaries],
        on_stop=[messages.close],
    )
