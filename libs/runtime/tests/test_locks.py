"""Two replicas handed the same delivery at once: the external effect happens once."""

import asyncio
from datetime import UTC, datetime

import pytest

from figsync_contracts import EmailReceived, ThreadResolved, new_envelope
from figsync_eventstore import PostgresEventStore, create_pool
from figsync_runtime import Step, StepContext, StepRunner
from figsync_runtime.locks import PostgresStepLocks
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


async def test_a_lock_held_by_a_dead_connection_is_free_again(database_url):
    pool = await create_pool(database_url, max_size=2)
    locks = PostgresStepLocks(pool)
    try:
        async with locks.hold("figma:job-1") as held:
            assert held
            other = await create_pool(database_url, max_size=1)
            async with PostgresStepLocks(other).hold("figma:job-1") as also:
                assert not also
            await other.close()
        async with locks.hold("figma:job-1") as again:
            assert again
    finally:
        await pool.close()
