import asyncio
import os
import time

import nats
import pytest

from figsync_contracts import JobIgnored, new_envelope, subject_for
from figsync_eventstore.relay import Relay, RelaySettings

pytestmark = pytest.mark.integration

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(stream: str):
    return new_envelope(
        JobIgnored(reason="duplicate_delivery"), stream_id=stream, team="acme",
        source="/tests", traceparent=TRACEPARENT,
    )  # fmt: skip


async def stream_messages(nats_url: str, stream: str = "FIGSYNC") -> list:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            return []
        return [
            await js.get_msg(stream, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
            if info.state.messages
        ]
    finally:
        await nc.close()


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")


async def append_many(store, count: int, prefix: str = "job") -> set[str]:
    ids = set()
    for n in range(count):
        e = event(f"{prefix}-{n % 7}")
        await store.append(e.subject, [e], expected_version=None)
        ids.add(e.id)
    return ids


async def run_relay(database_url, nats_url, **kwargs):
    stop = asyncio.Event()
    relay = Relay(database_url, nats_url, settings=RelaySettings(**kwargs))
    task = asyncio.create_task(relay.run(stop))
    return relay, stop, task


async def test_the_relay_publishes_each_event_once_with_its_id_and_trace_context(
    event_store, database_url, nats_url
):
    ids = await append_many(event_store, 40)
    relay, stop, task = await run_relay(database_url, nats_url, poll_interval_seconds=5)
    try:
        messages = await wait_for(
            lambda: _at_least(stream_messages(nats_url), len(ids)), timeout=20
        )
        late = event("job-late")
        started = time.monotonic()
        await event_store.append(late.subject, [late], expected_version=None)
        messages = await wait_for(lambda: _at_least(stream_messages(nats_url), len(ids) + 1))
        # LISTEN/NOTIFY wakes the relay: far sooner than its 5 s polling fallback.
        assert time.monotonic() - started < 4
    finally:
        stop.set()
        await task
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [
        e.event_id for e in await event_store.read_all(0, 10_000)
    ]
    first = messages[0]
    assert first.subject == subject_for(JobIgnored.type)
    assert first.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
    # The body is the envelope itself, with the event's own trace context.
    assert b'"traceparent":"' + TRACEPARENT.encode() in first.data


async def _at_least(coro, count):
    messages = await coro
    return messages if len(messages) >= count else None


async def test_a_relay_killed_between_publish_and_cursor_loses_and_duplicates_nothing(
    event_store, nats_url, spawn, tmp_path
):
    ids = await append_many(event_store, 30)
    marker = tmp_path / "published-one"
    crashing = spawn(
        "figsync_runtime.relay_main",
        wait_ready=False,
        FIGSYNC_TESTKIT_RELAY_HANG_AFTER_PUBLISH=str(marker),
    )
    await wait_for(lambda: _exists(marker), timeout=30)
    crashing.kill()  # PubAck received, cursor not yet moved
    assert len(await stream_messages(nats_url)) == 1
    ids |= await append_many(event_store, 20, prefix="after")
    spawn("figsync_runtime.relay_main")
    messages = await wait_for(lambda: _at_least(stream_messages(nats_url), len(ids)))
    await asyncio.sleep(1.0)
    messages = await stream_messages(nats_url)
    published = [m.headers["Nats-Msg-Id"] for m in messages]
    assert sorted(published) == sorted(ids), "every event exactly once on the stream"


async def _exists(path):
    return path.exists()


async def test_a_standby_relay_takes_over_when_the_leader_dies(event_store, nats_url, spawn):
    leader = spawn("figsync_runtime.relay_main")
    standby = spawn("figsync_runtime.relay_main")
    ids = await append_many(event_store, 10)
    await wait_for(lambda: _at_least(stream_messages(nats_url), len(ids)))
    # The first relay started holds the leader lock; kill it and the standby must carry on.
    leader.kill()
    more = await append_many(event_store, 10, prefix="later")
    messages = await wait_for(lambda: _at_least(stream_messages(nats_url), len(ids | more)))
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(ids | more)
    assert standby.process.poll() is None


async def test_the_relay_catches_up_after_nats_was_down(
    event_store, database_url, nats_url, nats_server
):
    if nats_server is None:
        pytest.skip("needs the embedded NATS server to stop and start it")
    relay, stop, task = await run_relay(database_url, nats_url, poll_interval_seconds=0.2)
    try:
        before = await append_many(event_store, 5)
        await wait_for(lambda: _at_least(stream_messages(nats_url), len(before)))
        nats_server.stop()
        during = await append_many(event_store, 15, prefix="outage")
        await asyncio.sleep(2)
        nats_server.start()
        messages = await wait_for(
            lambda: _at_least(stream_messages(nats_url), len(before | during)), timeout=40
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(before | during)


def test_hang_marker_is_off_unless_set():
    assert "FIGSYNC_TESTKIT_RELAY_HANG_AFTER_PUBLISH" not in os.environ
