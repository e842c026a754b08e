"""The append-only Postgres event store: optimistic appends, stream reads, gap-free global reads."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from figsync_contracts import Envelope
from figsync_eventstore import personal

NOTIFY_CHANNEL = "figsync_events"

# Writers take this transaction-scoped advisory lock before they draw positions, so positions
# are committed in the order they are drawn. Without it, a reader that has seen position 11
# could miss position 10, committed a moment later by a slower transaction (the sequence-gap
# problem), and a relay or projection would skip that event forever. The lock is released
# only after the commit is visible, so `position > cursor` never passes over a gap that is
# filled later. (The same idea as eventsourcing's table lock and Message DB's advisory lock.)
_APPEND_LOCK = 7_351_402_119


@dataclass(frozen=True)
class Appended:
    """The events were appended; the stream is now at `version`."""

    stream_id: str
    version: int
    positions: tuple[int, ...]


@dataclass(frozen=True)
class Conflict:
    """The stream was not at the expected version: someone else appended first."""

    stream_id: str
    expected_version: int
    actual_version: int


@dataclass(frozen=True)
class DuplicateEvent:
    """An event with this id is already in the store (a redelivered append)."""

    event_id: str


AppendOutcome = Appended | Conflict | DuplicateEvent


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored, with its global position and version in its stream."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    def envelope(self) -> Envelope:
        """The event in its envelope, as published on NATS."""
        meta = self.metadata
        return Envelope(
            id=self.event_id,
            source=meta.get("source", ""),
            type=self.type,
            time=datetime.fromisoformat(meta["time"]) if "time" in meta else self.recorded_at,
            subject=self.stream_id,
            dataschemaversion=self.schema_version,
            data=self.data,
            team=meta.get("team", ""),
            correlationid=meta.get("correlationid", self.stream_id),
            causationid=meta.get("causationid"),
            traceparent=meta.get("traceparent"),
        )


class EventStore(Protocol):
    """What handlers need of the store (the Postgres store and the in-memory fake both fit)."""

    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendOutcome: ...

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]: ...

    async def read_all(
        self, after: int = 0, limit: int = 1000, *, sealed: bool = False
    ) -> list[RecordedEvent]: ...


def _metadata(envelope: Envelope) -> dict[str, Any]:
    return {
        "source": envelope.source,
        "team": envelope.team,
        "correlationid": envelope.correlationid,
        "causationid": envelope.causationid,
        "traceparent": envelope.traceparent,
        "time": envelope.time.isoformat(),
    }


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool whose jsonb values are Python objects."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection
    )


_COLUMNS = "position, stream_id, version, event_id::text, type, schema_version, data, metadata, recorded_at"


def _row(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(*row.values())


class PostgresEventStore:
    """The event store on Postgres."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool  # or one connection, to append inside its transaction
        self.keys = personal.JobKeys()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if not hasattr(self.pool, "acquire"):
            yield self.pool  # type: ignore[misc]
            return
        async with self.pool.acquire() as conn:
            yield conn

    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendOutcome:
        """Append events to a stream at `expected_version` (None: wherever it is now)."""
        if not events:
            raise ValueError("append needs at least one event")
        data = [e.data for e in events]
        if personal.is_job_stream(stream_id) and any(
            personal.has_personal(e.type, e.data) for e in events
        ):
            data = await self._seal(stream_id, events)
        # One round trip: the lock, version check, insert and notify run in figsync_append
        # (migration 0006), inside the implicit transaction of this single statement.
        row = await self.pool.fetchrow(
            "SELECT * FROM figsync_append($1, $2, $3::uuid[], $4, $5, $6::jsonb[], $7::jsonb[], $8)",
            stream_id,
            -1 if expected_version is None else expected_version,
            [e.id for e in events],
            [e.type for e in events],
            [e.dataschemaversion for e in events],
            data,
            [_metadata(e) for e in events],
            _APPEND_LOCK,
        )
        if row["outcome"] == "conflict":
            return Conflict(stream_id, expected_version or 0, row["stream_version"])
        if row["outcome"] == "duplicate":
            return DuplicateEvent(str(row["duplicate_id"]))
        return Appended(stream_id, row["stream_version"], tuple(row["positions"]))

    async def _seal(self, stream_id: str, events: Sequence[Envelope]) -> list[dict[str, Any]]:
        """The events' data with personal fields sealed under the job's key, after recording
        who they name (first: a person must be findable before their data is stored)."""
        team = events[0].team
        async with self._connection() as conn:
            key = await self.keys.key_for(conn, stream_id, team)
            people = set().union(*(personal.people_in(e.type, e.data) for e in events))
            if key is not None:
                await self.keys.remember_people(conn, stream_id, team, people)
        return [personal.seal(stream_id, e.type, e.data, key) for e in events]

    async def _open(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record]
    ) -> list[RecordedEvent]:
        """Recorded events with their personal fields opened (erased where the key is gone)."""
        events = [_row(r) for r in rows]
        sealed = [
            e for e in events
            if personal.is_job_stream(e.stream_id) and personal.sealed_in(e.type, e.data)
        ]  # fmt: skip
        if not sealed:
            return events
        keys = await self.keys.keys(conn, (e.stream_id for e in sealed))
        opened = {
            e.position: replace(
                e, data=personal.unseal(e.stream_id, e.type, e.data, keys.get(e.stream_id))
            )
            for e in sealed
        }
        return [opened.get(e.position, e) for e in events]

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """Every event of one stream, in version order, personal fields opened."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version", stream_id
            )
            return await self._open(conn, rows)

    async def read_all(
        self, after: int = 0, limit: int = 1000, *, sealed: bool = False
    ) -> list[RecordedEvent]:
        """Events after a global position, in commit order, never skipping a late commit;
        personal fields opened, or left sealed (`sealed`: what the relay publishes)."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                after,
                limit,
            )
            return [_row(r) for r in rows] if sealed else await self._open(conn, rows)

    async def last_position(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
