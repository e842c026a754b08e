"""Replay: re-publish a range of stored events to JetStream, so stuck jobs move again.

Each replayed message carries `Nats-Msg-Id` = "<event id>:replay:<replay id>", not the bare
event id. With the bare id, JetStream's duplicate window (15 minutes by default) would drop
exactly the messages a replay is for (those the relay published recently and a consumer lost),
and the replay would silently do nothing. A distinct id per replay run is safe because every
handler is idempotent: an event whose step already produced its result is acked and skipped
(the step runner checks the job's stream), so only stuck jobs do work. Running the same replay
id twice within the window publishes each event once; a new run (new id) publishes again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import nats

from figsync_contracts import EVENT_TYPES, subject_for
from figsync_eventstore import PostgresEventStore, RecordedEvent
from figsync_eventstore.jetstream import StreamSettings, ensure_stream
from figsync_eventstore.relay import message_headers
from figsync_projector.fold import short_type


@dataclass(frozen=True)
class ReplayResult:
    replay_id: str
    published: int
    scanned: int
    last_position: int


class ReplayError(ValueError):
    """The replay's arguments cannot work."""


def event_types(names: Iterable[str]) -> set[str]:
    """Accept `ThreadResolved` or `figsync.thread_resolved.v1`; refuse unknown names."""
    by_short = {short_type(t): t for t in EVENT_TYPES}
    found = set()
    for name in names:
        if name in EVENT_TYPES:
            found.add(name)
        elif name in by_short:
            found.add(by_short[name])
        else:
            raise ReplayError(
                f"replay.unknown_type: {name!r} (known: {', '.join(sorted(by_short))})"
            )
    return found


def replay_headers(event: RecordedEvent, replay_id: str) -> dict[str, str]:
    headers = message_headers(event)
    headers["Nats-Msg-Id"] = f"{event.event_id}:replay:{replay_id}"
    headers["figsync-replay"] = replay_id
    return headers


async def replay(
    store: PostgresEventStore,
    nats_url: str,
    *,
    from_position: int,
    to_position: int | None = None,
    types: Iterable[str] = (),
    replay_id: str | None = None,
    stream: StreamSettings | None = None,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Publish the events with from_position ≤ position ≤ to_position (of the given types)."""
    if from_position < 1 or (to_position is not None and to_position < from_position):
        raise ReplayError("replay.bad_range: need 1 ≤ --from-position ≤ --to-position")
    wanted = event_types(types)
    replay_id = replay_id or uuid.uuid4().hex[:12]
    stream = stream or StreamSettings()
    last = to_position if to_position is not None else await store.last_position()
    nc = await nats.connect(nats_url, name="figsync-replay")
    published = scanned = 0
    after = from_position - 1
    try:
        js = nc.jetstream(timeout=10)
        await ensure_stream(js, stream)
        while after < last:
            batch = [
                e
                for e in await store.read_all(after, batch_size, sealed=True)
                if e.position <= last
            ]
            if not batch:
                break
            for event in batch:
                scanned += 1
                if wanted and event.type not in wanted:
                    continue
                await js.publish(
                    subject_for(event.type),
                    event.envelope().model_dump_json().encode(),
                    stream=stream.name,
                    headers=replay_headers(event, replay_id),
                )
                published += 1
            after = batch[-1].position
            if progress:
                progress(after - from_position + 1, last - from_position + 1)
    finally:
        await nc.drain()
    return ReplayResult(replay_id, published, scanned, after)
