import asyncio
import random
import uuid

import asyncpg
import pytest

from figsync_contracts import JobIgnored, new_envelope
from figsync_eventstore import Appended, Conflict, DuplicateEvent, PostgresEventStore, migrate
from figsync_eventstore import store as store_module
from figsync_eventstore.migrate import MigrationError, migrations

pytestmark = pytest.mark.integration


def event(stream: str, event_id: str | None = None):
    return new_envelope(
        JobIgnored(reason="duplicate_delivery", detail=stream),
        stream_id=stream,
        team="acme",
        source="/tests",
        event_id=event_id,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


async def test_append_and_read_a_stream_round_trips_the_envelope(event_store):
    first, second = event("job-1"), event("job-1")
    outcome = await event_store.append("job-1", [first, second], expected_version=0)
    assert isinstance(outcome, Appended) and outcome.version == 2
    stored = await event_store.read_stream("job-1")
    assert [e.version for e in stored] == [1, 2]
    assert stored[0].envelope() == first
    assert stored[1].envelope().traceparent == second.traceparent


async def test_append_at_a_stale_version_is_a_conflict_not_an_error(event_store):
    await event_store.append("job-1", [event("job-1")], expected_version=0)
    outcome = await event_store.append("job-1", [event("job-1")], expected_version=0)
    assert outcome == Conflict("job-1", expected_version=0, actual_version=1)
    assert len(await event_store.read_stream("job-1")) == 1


async def test_two_replicas_racing_for_the_next_step_only_one_wins(event_store):
    await event_store.append("job-1", [event("job-1")], expected_version=0)
    outcomes = await asyncio.gather(
        *(event_store.append("job-1", [event("job-1")], expected_version=1) for _ in range(6))
    )
    assert sum(isinstance(o, Appended) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 5


async def test_a_duplicate_event_id_is_refused(event_store):
    original = event("job-1")
    await event_store.append("job-1", [original], expected_version=None)
    again = await event_store.append("job-2", [event("job-2", event_id=original.id)], None)
    assert again == DuplicateEvent(original.id)
    assert await event_store.read_stream("job-2") == []


async def test_the_events_table_refuses_updates_and_deletes(event_store, pg_pool):
    await event_store.append("job-1", [event("job-1")], expected_version=0)
    async with pg_pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE events SET type = 'x'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM events")


async def test_a_reader_never_passes_a_position_committed_later(event_store, pg_pool):
    # A slow writer holds its transaction open after drawing a position; a fast writer must
    # wait behind it, so a reader can never see the fast writer's event first and skip a gap.
    slow = await pg_pool.acquire()
    tx = slow.transaction()
    await tx.start()
    await slow.execute("SELECT pg_advisory_xact_lock($1)", store_module._APPEND_LOCK)
    await slow.execute(
        """INSERT INTO events (stream_id, version, event_id, type, data)
           VALUES ('slow', 1, $1, 'figsync.job_ignored.v1', '{}')""",
        uuid.uuid4(),
    )
    fast = asyncio.create_task(event_store.append("fast", [event("fast")], expected_version=0))
    await asyncio.sleep(0.3)
    assert not fast.done(), "a writer drew a position while an earlier one was uncommitted"
    assert await event_store.read_all(after=0) == []
    await tx.commit()
    await pg_pool.release(slow)
    await fast
    assert [e.stream_id for e in await event_store.read_all(after=0)] == ["slow", "fast"]


async def test_concurrent_writers_and_a_tailing_reader_see_every_event_once_in_order(
    event_store: PostgresEventStore,
):
    writers, per_writer = 8, 2_500
    appended: set[str] = set()
    done = asyncio.Event()

    async def writer(number: int) -> None:
        rng = random.Random(number)
        written = 0
        while written < per_writer:
            stream = f"job-{number}-{rng.randrange(50)}"
            batch = [event(stream) for _ in range(min(rng.randint(1, 4), per_writer - written))]
            outcome = await event_store.append(stream, batch, expected_version=None)
            assert isinstance(outcome, Appended)
            appended.update(e.id for e in batch)
            written += len(batch)

    seen: list = []

    async def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await event_store.read_all(after=cursor, limit=500)
            seen.extend(page)
            if page:
                cursor = page[-1].position
            elif finished:
                return
            else:
                await asyncio.sleep(0.005)

    tail = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await tail

    ids = [e.event_id for e in seen]
    assert len(ids) == writers * per_writer
    assert len(set(ids)) == len(ids), "an event was read twice"
    assert set(ids) == appended, "an event was missed"
    positions = [e.position for e in seen]
    assert positions == sorted(positions)
    last_version: dict[str, int] = {}
    for e in seen:
        assert e.version == last_version.get(e.stream_id, 0) + 1
        last_version[e.stream_id] = e.version


async def test_migrate_is_idempotent_and_safe_when_two_run_at_once(postgres_url):
    name = f"figsync_m_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        first, second = await asyncio.gather(migrate(url), migrate(url))
        every = [m.version for m in migrations()]
        assert sorted(first + second) == every
        assert await migrate(url) == []
        conn = await asyncpg.connect(url)
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        await conn.close()
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(url)
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()
