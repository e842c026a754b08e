import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import JobDeferred, new_envelope
from figsync_runtime.resumer import run_resumer

pytestmark = pytest.mark.integration


async def deferred(store, job: str, minutes_ago: int = 1):
    until = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    event = JobDeferred(step="figma", code="figma.rate_limited", until=until, attempts=1)
    await store.append(job, [new_envelope(event, stream_id=job, team="t", source="/x")], None)


async def resumed(store, job: str) -> bool:
    return any(e.type == "figsync.job_resumed.v1" for e in await store.read_stream(job))


async def test_deferred_jobs_resume_when_due_and_only_once(event_store):
    await deferred(event_store, "job-due")
    future = JobDeferred(step="figma", code="x", until=datetime.now(UTC) + timedelta(hours=6))
    await event_store.append("job-later", [new_envelope(future, stream_id="job-later", team="t",
                                                        source="/x")], None)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_resumer(event_store, "figma", stop, interval=0.1))
    async with asyncio.timeout(10):
        while not await resumed(event_store, "job-due"):
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    stop.set()
    await task
    kinds = [e.type for e in await event_store.read_stream("job-due")]
    assert kinds.count("figsync.job_resumed.v1") == 1
    assert not await resumed(event_store, "job-later")


async def test_the_resumer_survives_a_postgres_restart(event_store, postgres_server):
    if postgres_server is None:
        pytest.skip("needs the embedded Postgres to kill and restart it")
    stop = asyncio.Event()
    task = asyncio.create_task(run_resumer(event_store, "figma", stop, interval=0.2))
    await asyncio.sleep(0.5)
    postgres_server.kill()
    await asyncio.sleep(1.0)  # the resumer's checks fail meanwhile
    postgres_server.start()
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    await deferred(event_store, "job-after-restart")
                    break
                except Exception:
                    await asyncio.sleep(0.3)
            while not await resumed(event_store, "job-after-restart"):
                assert not task.done(), "the resumer loop died"
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
