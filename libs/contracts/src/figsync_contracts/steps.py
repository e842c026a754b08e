"""Which service runs which step. Each step is one durable JetStream pull consumer on the
FIGSYNC stream, named `figsync-<step>`; a service's replicas share its steps' consumers, so a
service's backlog is the largest of its consumers' lags (what KEDA scales on)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

STEP_SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "figma": "figma",
        "sync": "figma",
        "summarizer": "summarizer",
        "notion": "notion",
        "notion-update": "notion",
        "notion-close": "notion",
        "notion-watch": "notion",
        "notifier": "notifier",
        "alerts": "notifier",
        "thread-sync": "notifier",
    }
)


def consumer_name(step: str) -> str:
    """The durable JetStream consumer of a step."""
    return f"figsync-{step}"
