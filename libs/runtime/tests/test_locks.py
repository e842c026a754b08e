"""Two replicas handed the same delivery at once: the external effect happens once."""

import asyncio
from datetime import UTC, datetime

import pytest

from figsync_contracts import EmailReceived, ThreadResolved, new_envelope
from figsync_eventstore import PostgresEventStore, create_pool
from figsync_runtime import Step, StepContext, StepRunner
from figsync_runtime.locks import PostgresAttempts, PostgresStepLocks
from figsync_runtime.steps import Ack, Redeliver

pytestmark = pytest.mark.integration


async def test_a_delivery_overtaking_a_slow_attempt_waits_its_turn(database_url):
    effects = []

    async def slow_effect(ctx: StepContext) -> None:
        effects.append(ctx.job_id)  # e.g. a Notion page created
        await asyncio.sleep(1.0)
        await ctx.emit(
            ThreadResolved(
                file_key="K",
                file_name="F",
                file_url="https://www.figma.com/design/K",
                comment_id="1",
                root_comment_id="1",
                author="a",
                text="t",
                mentions=[],
                thread=[],
            )  # fmt: skip
        )

    step = Step("figma", consumes=[EmailReceived], produces=[ThreadResolved], handle=slow_effect)
    pools = [await create_pool(database_url, max_size=4) for _ in range(4)]
    try:
        replicas = [
            StepRunner(step, PostgresEventStore(pools[i]), locks=PostgresStepLocks(pools[i + 2]))
            for i in (0, 1)
        ]
        incoming = new_envelope(
            EmailReceived(
                transport="json", message_id="<m@x>", sender="s", recipients=["r"], subject="",
                html="<p/>", received_at=datetime.now(UTC),
            ),
            stream_id="job-1", team="t", source="/tests",
        )  # fmt: skip
        await replicas[0].store.append("job-1", [incoming], expected_version=0)
        first, second = await asyncio.gather(
            replicas[0].process(incoming, attempt=1), replicas[1].process(incoming, attempt=2)
        )
        assert effects == ["job-1"]
        assert {type(first), type(second)} == {Ack, Redeliver}
        busy = first if isinstance(first, Redeliver) else second
        assert busy.code == "step.busy"
        # The redelivery, once the lock is free, sees the work done.
        assert await replicas[1].process(incoming, attempt=3) == Ack("already done")
    finally:
        for pool in pools:
            await pool.close()


async def test_a_lease_left_by_a_killed_holder_is_free_once_it_expires(database_url):
    pool = await create_pool(database_url, max_size=2)
    try:
        # A replica took the lease and was SIGKILLed mid-step: nobody releases or renews it.
        await pool.execute(
            "INSERT INTO step_leases VALUES ('figma:job-1', 'dead', now() + interval '1 second')"
        )
        locks = PostgresStepLocks(pool, ttl_seconds=5)
        async with locks.hold("figma:job-1") as held:
            assert not held
        await asyncio.sleep(1.2)
        async with locks.hold("figma:job-1") as held:
            assert held
            async with PostgresStepLocks(pool).hold("figma:job-1") as other:
                assert not other
        async with PostgresStepLocks(pool).hold("figma:job-1") as after_release:
            assert after_release
    finally:
        await pool.close()


async def test_a_held_lease_is_renewed_while_its_step_runs(database_url):
    pool = await create_pool(database_url, max_size=2)
    try:
        locks = PostgresStepLocks(pool, ttl_seconds=0.9)
        async with locks.hold("notion:job-2") as held:
            assert held
            await asyncio.sleep(2.0)  # more than twice the lease: only renewal keeps it
            async with PostgresStepLocks(pool).hold("notion:job-2") as other:
                assert not other
    finally:
        await pool.close()


async def test_steps_in_flight_hold_no_connection_for_their_locks(database_url):
    pool = await create_pool(database_url, min_size=1, max_size=2)
    locks = PostgresStepLocks(pool)
    inside = 0
    most = 0

    async def step(n: int) -> bool:
        nonlocal inside, most
        async with locks.hold(f"figma:job-{n}") as held:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.5)  # a slow external call
            inside -= 1
            return held

    try:
        held = await asyncio.wait_for(asyncio.gather(*(step(n) for n in range(20))), 30)
        assert all(held)
        assert most == 20  # all twenty ran at once on a pool of two connections
        assert pool.get_size() <= 2
    finally:
        await pool.close()


async def test_failed_attempts_are_counted_across_replicas(database_url):
    pools = [await create_pool(database_url, max_size=1) for _ in range(2)]
    try:
        first, second = (PostgresAttempts(p) for p in pools)
        assert await first.count("figma:e1") == 0
        assert await first.failed("figma:e1") == 1
        assert await second.failed("figma:e1") == 2
        assert await first.count("figma:e1") == 2
        assert await second.count("figma:e2") == 0
    finally:
        for pool in pools:
            await pool.close()
