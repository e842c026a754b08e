"""Composition root of the notifier service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the notifier service (its handlers arrive with the notifier issue)."""
    return Wiring()
