"""Composition root of the ingest service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

import asyncio

from figsync_ingest.adapters.postgres import PostgresDeliveryLog, PostgresForwardingLog
from figsync_ingest.app import create_app
from figsync_ingest.handlers import Ingest, prune_deliveries
from figsync_ingest.limits import TokenBuckets
from figsync_ingest.settings import IngestSettings
from figsync_ingest.teams import CachedTeams
from figsync_runtime import Resources, Wiring
from figsync_runtime.teams import ensure_default_team


def build_ingest(resources: Resources, settings: IngestSettings) -> Ingest:
    return Ingest(
        settings=settings,
        store=resources.store,
        teams=CachedTeams(resources.teams, ttl=settings.team_cache_seconds),
        deliveries=PostgresDeliveryLog(resources.pool),
        forwarding=PostgresForwardingLog(resources.pool),
        source_limits=TokenBuckets(settings.rate_per_source, settings.rate_burst_per_source),
        team_limits=TokenBuckets(settings.rate_per_team, settings.rate_burst_per_team),
    )


async def build(resources: Resources) -> Wiring:
    """Wire the ingest service: the HTTP edge and the loop that forgets old delivery ids."""
    settings = resources.settings
    if not isinstance(settings, IngestSettings):
        settings = IngestSettings.model_validate(settings.model_dump())
    await ensure_default_team(resources.teams)
    ingest = build_ingest(resources, settings)

    async def prune(stop: asyncio.Event) -> None:
        await prune_deliveries(ingest, stop)

    return Wiring(app=create_app(ingest), tasks=[prune])
