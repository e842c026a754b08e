"""The relay: tails the event store and publishes each event to JetStream (the store is the outbox).

Each event is published with `Nats-Msg-Id` = its event id, and the persisted cursor moves only
after JetStream acknowledged it, so a crash between commit and publish loses nothing and a
republish after a crash is dropped by the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from figsync_contracts import Envelope, JobFailed, new_envelope, subject_for
from figsync_eventstore.jetstream import StreamSettings, ensure_stream
from figsync_eventstore.store import (
    NOTIFY_CHANNEL,
    PostgresEventStore,
    RecordedEvent,
    create_pool,
)

log = logging.getLogger("figsync.relay")
tracer = trace.get_tracer("figsync.relay")

# Only one relay publishes at a time; standbys wait on this session lock and take over when
# the holder's connection dies.
_LEADER_LOCK = 7_351_402_120


@dataclass(frozen=True)
class RelaySettings:
    """How the relay tails and publishes."""

    cursor_name: str = "relay:nats"
    batch_size: int = 256
    poll_interval_seconds: float = 1.0
    standby_interval_seconds: float = 1.0
    publish_timeout_seconds: float = 5.0
    retry_backoff_seconds: float = 0.5
    # Publishing that keeps failing this long (NATS away, the stream refusing) makes the
    # relay report itself not ready, so an orchestrator and an alert see it.
    failing_after_seconds: float = 60.0


class Unpublishable(Exception):
    """This event can never be published as it is; parked so the ones after it go on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def classify_publish_error(error: Exception) -> Unpublishable | None:
    """A permanent publish error as Unpublishable; None for one worth retrying."""
    if isinstance(error, Unpublishable):
        return error
    if isinstance(error, nats.errors.MaxPayloadError):
        return Unpublishable(
            "relay.event_too_large",
            f"the event is larger than the NATS server's max_payload ({error})",
        )
    if isinstance(error, nats.js.errors.APIError) and error.err_code in _PERMANENT_API_ERRORS:
        return Unpublishable("relay.stream_refused", f"JetStream refused the event: {error}")
    return None


# JetStream refusals that the same message meets every time: message size over the stream's
# max_msg_size (10054) and a header too large for the server (10119).
_PERMANENT_API_ERRORS = {10054, 10119}


@dataclass(frozen=True)
class ParkedEvent:
    """An event the relay could not publish, waiting to be re-driven."""

    position: int
    event_id: str
    stream_id: str
    type: str
    code: str
    error: str


class Relay:
    """Publishes the store's events to JetStream in global order, exactly once on the stream."""

    def __init__(
        self,
        database_url: str,
        nats_url: str,
        stream: StreamSettings | None = None,
        settings: RelaySettings | None = None,
        on_published: Callable[[int], Awaitable[None]] | None = None,
        after_publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.database_url = database_url
        self.nats_url = nats_url
        self.stream = stream or StreamSettings()
        self.settings = settings or RelaySettings()
        self.on_published = on_published
        # Called after each PubAck, before the cursor moves (crash tests' hook).
        self.after_publish = after_publish
        self.is_leader = False
        self.published = 0
        self.parked = 0
        # Store position minus published position, as last seen (leader and standby alike).
        self.lag = 0
        self.problem: str | None = "relay.starting: not connected yet"
        self._failing_since: float | None = None

    def ready(self) -> bool:
        """False while the schema is missing, before it first reached the store, or when
        publishing has kept failing for `failing_after_seconds`."""
        if self.problem is None:
            return True
        since = self._failing_since
        return since is not None and time.monotonic() - since < self.settings.failing_after_seconds

    def _trouble(self, problem: str, transient: bool = False) -> None:
        if self.problem != problem:
            log.warning("relay problem: %s", problem)
        self.problem = problem
        if not transient:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = time.monotonic()

    def _fine(self) -> None:
        if self.problem is not None:
            log.info("relay running (%s)", "leader" if self.is_leader else "standby")
        self.problem = None
        self._failing_since = None

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for leadership, then relay until `stop` is set or leadership is lost."""
        pool = await create_pool(self.database_url, min_size=0, max_size=2)
        nc = await nats.connect(
            self.nats_url,
            name="figsync-relay",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
        store = PostgresEventStore(pool)
        try:
            while not stop.is_set():
                try:
                    await self._lead_or_stand_by(store, nc, stop)
                except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError):
                    self._trouble("relay.schema_missing: the event store has no tables yet; "
                                  "run `figsync migrate` (the relay starts by itself after)")  # fmt: skip
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                    self._trouble(f"relay.postgres_unavailable: {error}", transient=True)
                await _sleep_or_stop(stop, self.settings.standby_interval_seconds)
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()
            await pool.close()

    async def _lead_or_stand_by(
        self, store: PostgresEventStore, nc: NatsClient, stop: asyncio.Event
    ) -> None:
        leader = await asyncpg.connect(self.database_url)
        try:
            await self._measure_lag(store)
            if await leader.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                self.is_leader = True
                log.info("relay is the leader")
                await self._lead(leader, store, nc, stop)
            else:
                self._fine()
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await leader.close()

    async def _lead(
        self,
        leader: asyncpg.Connection,
        store: PostgresEventStore,
        nc: NatsClient,
        stop: asyncio.Event,
    ) -> None:
        wake = asyncio.Event()
        await leader.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        js = nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        stream_ready = False
        cursor = await self._load_cursor(store)
        self.parked = await self._count_parked(store)
        while not stop.is_set() and not leader.is_closed():
            try:
                if not stream_ready:
                    await ensure_stream(js, self.stream)
                    stream_ready = True
                batch = await store.read_all(
                    after=cursor, limit=self.settings.batch_size, sealed=True
                )
                if not batch:
                    await self._measure_lag(store)
                    self._fine()
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.settings.poll_interval_seconds):
                            await wake.wait()
                    continue
                cursor = await self._publish(js, store, batch, cursor)
                await self._measure_lag(store)
                self._fine()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                # Leadership lives on a Postgres session: give it up and stand in line again.
                log.warning("relay lost postgres: %s", error)
                raise
            except Exception as error:
                self._trouble(f"relay.publish_failing: {type(error).__name__}: {error}",
                              transient=True)  # fmt: skip
                log.warning("relay publish failed, will retry: %s", error)
                stream_ready = False
                await _sleep_or_stop(stop, self.settings.retry_backoff_seconds)

    async def _publish(
        self, js, store: PostgresEventStore, batch: list[RecordedEvent], cursor: int
    ) -> int:
        for event in batch:
            try:
                await publish_event(js, self.stream.name, event)
            except Exception as error:
                unpublishable = classify_publish_error(error)
                if unpublishable is None:
                    raise  # transient: the batch is tried again (the stream drops repeats)
                await self._park(store, event, unpublishable)
            self.after_publish()
            cursor = event.position
            self.published += 1
        await self._save_cursor(store, cursor)
        if self.on_published:
            await self.on_published(cursor)
        return cursor

    async def _park(self, store: PostgresEventStore, event: RecordedEvent, why: Unpublishable):
        """Set the event aside (and say so in its job) so the events after it go on."""
        log.error(
            "relay parked an event it cannot publish: %s (position %s, %s, job %s); fix the "
            "cause, then `figsync relay redrive`", why, event.position, event.type,
            event.stream_id,
        )  # fmt: skip
        async with store.pool.acquire() as conn:
            inserted = await conn.fetchval(
                """INSERT INTO relay_parked (position, event_id, stream_id, type, code, error)
                   VALUES ($1, $2::uuid, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1""",
                event.position, event.event_id, event.stream_id, event.type, why.code,
                why.message[:2000],
            )  # fmt: skip
        # A failure the relay itself appended is not reported again, so parking never loops.
        own_report = event.type == JobFailed.type and event.data.get("step") == "relay"
        if inserted:
            self.parked += 1
        if inserted and not own_report:
            await store.append(
                event.stream_id, [_parked_failure(event, why)], expected_version=None
            )

    async def _measure_lag(self, store: PostgresEventStore) -> None:
        async with store.pool.acquire() as conn:
            self.lag = await conn.fetchval(
                """SELECT greatest(0, (SELECT coalesce(max(position), 0) FROM events)
                       - coalesce((SELECT position FROM cursors WHERE name = $1), 0))""",
                self.settings.cursor_name,
            )

    async def _count_parked(self, store: PostgresEventStore) -> int:
        async with store.pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT count(*) FROM relay_parked WHERE redriven_at IS NULL"
            )

    async def _load_cursor(self, store: PostgresEventStore) -> int:
        async with store.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO cursors (name) VALUES ($1) ON CONFLICT DO NOTHING",
                self.settings.cursor_name,
            )
            return await conn.fetchval(
                "SELECT position FROM cursors WHERE name = $1", self.settings.cursor_name
            )

    async def _save_cursor(self, store: PostgresEventStore, position: int) -> None:
        async with store.pool.acquire() as conn:
            await conn.execute(
                "UPDATE cursors SET position = $2, updated_at = now() WHERE name = $1",
                self.settings.cursor_name,
                position,
            )


def message_headers(event: RecordedEvent) -> dict[str, str]:
    """NATS headers for an event: dedup id, trace context, and routing hints."""
    headers = {
        "Nats-Msg-Id": event.event_id,
        "Content-Type": "application/cloudevents+json",
        "figsync-type": event.type,
        "figsync-team": str(event.metadata.get("team", "")),
        "figsync-job": event.stream_id,
    }
    propagate.inject(headers)
    return headers


def _event_context(event: RecordedEvent) -> otel_context.Context:
    traceparent = event.metadata.get("traceparent")
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


async def publish_event(js, stream: str, event: RecordedEvent) -> None:
    """Publish one stored event (its id as Nats-Msg-Id, its own trace context)."""
    with tracer.start_as_current_span(
        f"publish {subject_for(event.type)}",
        context=_event_context(event),
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": subject_for(event.type),
            "messaging.message.id": event.event_id,
            "figsync.job_id": event.stream_id,
        },
    ):
        try:
            body = event.envelope().model_dump_json().encode()
        except (ValueError, KeyError) as error:
            raise Unpublishable("relay.not_an_envelope", str(error)[:500]) from error
        await js.publish(
            subject_for(event.type), body, stream=stream,
            headers=message_headers(event),
        )  # fmt: skip


def _parked_failure(event: RecordedEvent, why: Unpublishable) -> Envelope:
    failed = JobFailed(
        step="relay",
        code=why.code,
        message=(
            f"{event.type} (position {event.position}) could not be published: {why.message}. "
            "Fix the cause (for a size limit: raise the NATS server's max_payload), then run "
            "`figsync relay redrive`."
        ),
        attempts=1,
        retryable=False,
        context={"position": event.position, "type": event.type},
    )
    return new_envelope(
        failed,
        stream_id=event.stream_id,
        team=str(event.metadata.get("team", "")),
        source="/relay",
        correlation_id=event.metadata.get("correlationid") or event.stream_id,
        traceparent=event.metadata.get("traceparent"),
    )


async def parked_events(pool: asyncpg.Pool) -> list[ParkedEvent]:
    """The events the relay parked and nobody re-drove yet, in position order."""
    rows = await pool.fetch(
        """SELECT position, event_id::text, stream_id, type, code, error FROM relay_parked
           WHERE redriven_at IS NULL ORDER BY position"""
    )
    return [ParkedEvent(*row.values()) for row in rows]


async def redrive_parked(
    pool: asyncpg.Pool, nc: NatsClient, stream: StreamSettings, positions: list[int] | None = None
) -> dict[int, str]:
    """Publish parked events again (all, or those at `positions`); returns position → outcome
    ("published" or the error). Safe to repeat: the stream drops a duplicate Nats-Msg-Id."""
    store = PostgresEventStore(pool)
    js = nc.jetstream()
    await ensure_stream(js, stream)
    outcomes: dict[int, str] = {}
    for parked in await parked_events(pool):
        if positions is not None and parked.position not in positions:
            continue
        [event] = await store.read_all(after=parked.position - 1, limit=1, sealed=True)
        try:
            await publish_event(js, stream.name, event)
        except Exception as error:
            outcomes[parked.position] = f"{type(error).__name__}: {error}"
            continue
        await pool.execute(
            "UPDATE relay_parked SET redriven_at = now() WHERE position = $1", parked.position
        )
        outcomes[parked.position] = "published"
    return outcomes


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
