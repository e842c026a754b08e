import asyncio
import contextlib
import os
import sys
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from projector_histories import append, comment, email, failed, resolved, summary

from figsync_contracts import Envelope, JobRetryRequested, SummaryGenerated, ThreadResolved
from figsync_eventstore.jetstream import StreamSettings, ensure_stream
from figsync_eventstore.relay import message_headers
from figsync_projector.projection import Projection
from figsync_projector.replay import ReplayError, event_types, replay
from figsync_runtime import Step, StepContext
from figsync_runtime.steps import StepRunner

pytestmark = pytest.mark.integration

FIGSYNC = str(Path(sys.executable).parent / "figsync")


class FakeSummarizer:
    """A summarizer step over the real StepRunner, counting its (external) effects."""

    def __init__(self, store) -> None:
        self.effects: list[str] = []

        async def summarize(ctx: StepContext) -> None:
            self.effects.append(ctx.job_id)
            await ctx.emit(summary())

        step = Step("summarizer", consumes=[ThreadResolved], produces=[SummaryGenerated],
                    handle=summarize)  # fmt: skip
        self.runner = StepRunner(step, store)

    async def consume(self, nats_url: str, stop: asyncio.Event) -> None:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            # Subscribes after the originals were published: they are lost to it (stuck jobs).
            sub = await js.pull_subscribe(
                "figsync.events.thread_resolved.*", durable="fake-summarizer",
                config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            )  # fmt: skip
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    for msg in await sub.fetch(10, timeout=0.2):
                        envelope = Envelope.model_validate_json(msg.data)
                        await self.runner.process(envelope, 1)
                        await msg.ack()
        finally:
            await nc.close()


async def test_replaying_a_range_makes_stuck_jobs_finish_without_duplicate_effects(
    event_store, nats_url
):
    jobs = [f"0b4f9e65-3333-4a0c-9d3e-00000000000{n}" for n in range(4)]
    for n, job in enumerate(jobs):
        await append(event_store, job, email(n), resolved())
    fake = FakeSummarizer(event_store)
    # Job 0 went through already; jobs 1-3 are stuck after ThreadResolved.
    done_input = (await event_store.read_stream(jobs[0]))[-1].envelope()
    await fake.runner.process(done_input, 1)
    assert fake.effects == [jobs[0]]

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, StreamSettings())
    for event in await event_store.read_all(0, 100):  # as the relay published them
        await js.publish(
            f"figsync.events.{event.type.split('.')[1]}.v1",
            event.envelope().model_dump_json().encode(),
            headers=message_headers(event),
        )
    stop = asyncio.Event()
    consumer = asyncio.create_task(fake.consume(nats_url, stop))
    await asyncio.sleep(0.3)
    # Publishing again under the bare event id is dropped by the duplicate window:
    first = (await event_store.read_all(0, 1))[0]
    again = await js.publish("figsync.events.email_received.v1", b"{}", headers=message_headers(first))  # fmt: skip
    assert again.duplicate
    await nc.close()

    try:
        head = await event_store.last_position()
        result = await replay(
            event_store, nats_url, from_position=1, to_position=head, types=["ThreadResolved"]
        )
        assert (result.published, result.scanned) == (4, head)
        for _ in range(100):
            if len(fake.effects) == 4:
                break
            await asyncio.sleep(0.1)
        # A second replay (a new run) is harmless: every job already has its summary.
        await replay(event_store, nats_url, from_position=1, types=["figsync.thread_resolved.v1"])
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await consumer

    assert sorted(fake.effects) == sorted(jobs)
    for job in jobs:
        types = [e.type for e in await event_store.read_stream(job)]
        assert types.count(SummaryGenerated.type) == 1, job


def test_replay_refuses_unknown_types():
    assert event_types(["ThreadResolved"]) == {ThreadResolved.type}
    with pytest.raises(ReplayError, match="replay.unknown_type"):
        event_types(["ThreadResolvd"])


async def run_cli(database_url: str, nats_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        FIGSYNC, *args,
        env={**os.environ, "FIGSYNC_DATABASE_URL": database_url, "FIGSYNC_NATS_URL": nats_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_retries_a_failed_job_and_refuses_a_running_one(
    event_store, database_url, nats_url
):
    failed_job, running_job = (
        "0b4f9e65-4444-4a0c-9d3e-000000000001",
        "0b4f9e65-4444-4a0c-9d3e-000000000002",
    )
    await append(event_store, failed_job, comment(), failed("figma", "figma.forbidden", 2))
    await append(event_store, running_job, comment(comment_id="c2"))

    code, out, _ = await run_cli(database_url, nats_url, "jobs", "retry", failed_job)
    assert code == 0 and "from step figma" in out
    last = (await event_store.read_stream(failed_job))[-1]
    assert (last.type, last.data["step"], last.data["requested_by"]) == (
        JobRetryRequested.type, "figma", "cli",
    )  # fmt: skip

    code, _, err = await run_cli(database_url, nats_url, "jobs", "retry", running_job)
    assert code == 1 and "job.not_retryable" in err


async def test_the_cli_rebuilds_the_views_and_replays_with_progress(
    event_store, database_url, nats_url, pg_pool
):
    job = "0b4f9e65-4444-4a0c-9d3e-000000000003"
    await append(event_store, job, comment(), resolved())
    await Projection(event_store).apply_batch(100)
    await pg_pool.execute("UPDATE projections.jobs SET status = 'corrupted'")

    code, out, err = await run_cli(database_url, nats_url, "projections", "rebuild")
    assert code == 0, err
    assert "views rebuilt: 2 events" in out and "rebuilding views" in err  # tqdm on stderr
    assert await pg_pool.fetchval("SELECT status FROM projections.jobs") == "summarizing"

    code, out, err = await run_cli(
        database_url, nats_url, "replay", "--from-position", "2", "--type", "ThreadResolved"
    )
    assert code == 0, err
    assert "published 1 of 1 events" in out
    code, _, err = await run_cli(database_url, nats_url, "replay", "--from-position", "0")
    assert code == 2 and "replay.bad_range" in err
