"""Composition root of the projector service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the projector service (its handlers arrive with the projector issue)."""
    return Wiring()
