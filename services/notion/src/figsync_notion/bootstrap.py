"""Composition root of the notion service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the notion service (its handlers arrive with the notion issue)."""
    return Wiring()
