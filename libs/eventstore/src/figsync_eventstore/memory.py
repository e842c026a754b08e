"""An in-memory event store with the Postgres store's semantics, for handler unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from figsync_contracts import Envelope
from figsync_eventstore.store import (
    Appended,
    AppendOutcome,
    Conflict,
    DuplicateEvent,
    RecordedEvent,
    _metadata,
)


class InMemoryEventStore:
    """The EventStore port in memory: same outcomes, no database."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self._lock = asyncio.Lock()

    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendOutcome:
        if not events:
            raise ValueError("append needs at least one event")
        async with self._lock:
            current = sum(1 for e in self.events if e.stream_id == stream_id)
            if expected_version is not None and current != expected_version:
                return Conflict(stream_id, expected_version, current)
            known = {e.event_id for e in self.events}
            for envelope in events:
                if envelope.id in known:
                    return DuplicateEvent(envelope.id)
            positions = []
            for offset, envelope in enumerate(events, start=1):
                recorded = RecordedEvent(
                    position=len(self.events) + 1,
                    stream_id=stream_id,
                    version=current + offset,
                    event_id=envelope.id,
                    type=envelope.type,
                    schema_version=envelope.dataschemaversion,
                    data=envelope.data,
                    metadata=_metadata(envelope),
                    recorded_at=datetime.now(UTC),
                )
                self.events.append(recorded)
                positions.append(recorded.position)
            return Appended(stream_id, current + len(events), tuple(positions))

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        return [e for e in self.events if e.stream_id == stream_id]

    async def read_all(
        self, after: int = 0, limit: int = 1000, *, sealed: bool = False
    ) -> list[RecordedEvent]:
        return [e for e in self.events if e.position > after][:limit]
