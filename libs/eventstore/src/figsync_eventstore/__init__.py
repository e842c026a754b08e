"""figsync's event store (Postgres, append-only), its migrations and the relay to NATS."""

from figsync_eventstore.memory import InMemoryEventStore
from figsync_eventstore.migrate import migrate
from figsync_eventstore.personal import stored_size
from figsync_eventstore.store import (
    Appended,
    AppendOutcome,
    Conflict,
    DuplicateEvent,
    EventStore,
    PostgresEventStore,
    RecordedEvent,
    create_pool,
)

__all__ = [
    "AppendOutcome",
    "Appended",
    "Conflict",
    "DuplicateEvent",
    "EventStore",
    "InMemoryEventStore",
    "PostgresEventStore",
    "RecordedEvent",
    "create_pool",
    "migrate",
    "stored_size",
]
