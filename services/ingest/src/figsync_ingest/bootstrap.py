"""Composition root of the ingest service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the ingest service (its handlers arrive with the ingest issue)."""
    return Wiring()
