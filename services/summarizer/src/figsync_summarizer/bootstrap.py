"""Composition root of the summarizer service: builds its adapters and hands them to its handlers."""

from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the summarizer service (its handlers arrive with the summarizer issue)."""
    return Wiring()
