"""Composition root of the figma service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the figma service (its handlers arrive with the figma issue)."""
    return Wiring()
