"""The envelope every event travels in: CloudEvents attribute names plus figsync's own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from figsync_contracts.events import Event, parse_event


class Envelope(BaseModel):
    """One event with its identity and provenance (CloudEvents 1.0 attribute names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: str
    type: str
    specversion: Literal["1.0"] = "1.0"
    time: datetime
    subject: str = Field(description="The job id (the event's stream).")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschemaversion: int = 1
    data: dict[str, Any]
    team: str
    correlationid: str
    causationid: str | None = None
    traceparent: str | None = None

    def event(self) -> Event:
        """The typed event inside."""
        return parse_event(self.type, self.data)

    @property
    def job_id(self) -> str:
        return self.subject


def new_envelope(
    event: Event,
    *,
    stream_id: str,
    team: str,
    source: str,
    causation: Envelope | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Wrap an event for appending: correlation is the job, causation the event that caused it."""
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=event.type,
        time=datetime.now(UTC),
        subject=stream_id,
        dataschemaversion=event.version,
        data=event.model_dump(mode="json"),
        team=team,
        correlationid=correlation_id or (causation.correlationid if causation else stream_id),
        causationid=causation.id if causation else None,
        traceparent=traceparent,
    )
