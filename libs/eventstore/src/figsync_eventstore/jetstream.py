"""The JetStream stream that carries figsync's events (the store keeps history; it only carries)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from figsync_contracts import STREAM_SUBJECTS


@dataclass(frozen=True)
class StreamSettings:
    """How the events stream is configured; every limit is explicit."""

    name: str = "FIGSYNC"
    subjects: list[str] = field(default_factory=lambda: list(STREAM_SUBJECTS))
    replicas: int = 1
    duplicate_window_seconds: float = 900.0
    max_age_seconds: float = 7 * 24 * 3600.0
    max_bytes: int = -1

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=self.subjects,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_seconds,
            max_age=self.max_age_seconds,
            max_bytes=self.max_bytes,
        )


async def ensure_stream(js: JetStreamContext, settings: StreamSettings) -> None:
    """Create the stream, or bring an existing one to these settings."""
    try:
        await js.stream_info(settings.name)
    except NotFoundError:
        await js.add_stream(settings.config())
    else:
        await js.update_stream(settings.config())
