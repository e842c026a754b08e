"""The relay: tails the event store and publishes each event to JetStream (the store is the outbox).

Each event is published with `Nats-Msg-Id` = its event id, and the persisted cursor moves only
after JetStream acknowledged it, so a crash between commit and publish loses nothing and a
republish after a crash is dropped by the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from figsync_contracts import subject_for
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


class Relay:
    """Publishes the store's events to JetStream in global order, exactly once on the stream."""

    def __init__(
        self,
        database_url: str,
        nats_url: str,
        stream: StreamSettings | None = None,
        settings: RelaySettings | None = None,
        on_published: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.database_url = database_url
        self.nats_url = nats_url
        self.stream = stream or StreamSettings()
        self.settings = settings or RelaySettings()
        self.on_published = on_published
        self.is_leader = False
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Wait for leadership, then relay until `stop` is set or leadership is lost."""
        pool = await create_pool(self.database_url, max_size=2)
        nc = await nats.connect(
            self.nats_url,
            name="figsync-relay",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
        try:
            while not stop.is_set():
                leader = await asyncpg.connect(self.database_url)
                try:
                    if await leader.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                        self.is_leader = True
                        log.info("relay is the leader")
                        await self._lead(leader, PostgresEventStore(pool), nc, stop)
                finally:
                    self.is_leader = False
                    with contextlib.suppress(Exception):
                        await leader.close()
                await _sleep_or_stop(stop, self.settings.standby_interval_seconds)
        finally:
            await nc.drain()
            await pool.close()

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
        while not stop.is_set() and not leader.is_closed():
            try:
                if not stream_ready:
                    await ensure_stream(js, self.stream)
                    stream_ready = True
                batch = await store.read_all(after=cursor, limit=self.settings.batch_size)
                if not batch:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.settings.poll_interval_seconds):
                            await wake.wait()
                    continue
                cursor = await self._publish(js, store, batch, cursor)
            except (asyncpg.PostgresConnectionError, OSError, ConnectionError) as error:
                log.warning("relay lost postgres: %s", error)
                return
            except Exception as error:
                log.warning("relay publish failed, will retry: %s", error)
                stream_ready = False
                await _sleep_or_stop(stop, self.settings.retry_backoff_seconds)

    async def _publish(
        self, js, store: PostgresEventStore, batch: list[RecordedEvent], cursor: int
    ) -> int:
        for event in batch:
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
                body = event.envelope().model_dump_json().encode()
                await js.publish(
                    subject_for(event.type),
                    body,
                    stream=self.stream.name,
                    headers=message_headers(event),
                )
            _test_pause_after_publish()
            cursor = event.position
            self.published += 1
        await self._save_cursor(store, cursor)
        if self.on_published:
            await self.on_published(cursor)
        return cursor

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


def _test_pause_after_publish() -> None:
    # Crash tests set this to a file path: the relay writes it after a PubAck and then hangs
    # before moving its cursor, so a test can SIGKILL it at exactly that point.
    marker = os.environ.get("FIGSYNC_RELAY_TEST_HANG_AFTER_PUBLISH")
    if marker and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        import time

        time.sleep(3600)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
