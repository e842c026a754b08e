"""A deferred job still resumes after Postgres restarted under the resumer (found by the chaos
run: parked jobs stayed parked forever once the database had restarted)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import EmailReceived, JobDeferred, JobResumed, new_envelope
from figsync_runtime.resumer import run_resumer
from figsync_runtime.steps import SystemClock

pytestmark = pytest.mark.e2e


async def test_the_resumer_keeps_running_through_a_postgres_restart(event_store, postgres_server):
    if postgres_server is None:
        pytest.skip("needs the embedded Postgres to restart it")
    stop = asyncio.Event()
    resumer = asyncio.create_task(run_resumer(event_store, "figma", stop, SystemClock(), 0.2))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(postgres_server.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(postgres_server.start)
    await asyncio.sleep(1)
    assert not resumer.done(), resumer.exception() if resumer.done() else None

    received = new_envelope(
        EmailReceived(transport="json", message_id="m", sender="s", recipients=["r"],
                      subject="", html="<p/>", received_at=datetime.now(UTC)),
        stream_id="job-after-restart", team="default", source="/tests",
    )  # fmt: skip
    deferred = new_envelope(
        JobDeferred(step="figma", code="figma.rate_limited",
                    until=datetime.now(UTC) - timedelta(seconds=1), attempts=1),
        stream_id="job-after-restart", team="default", source="/tests", causation=received,
    )  # fmt: skip
    for _ in range(50):
        try:
            await event_store.append("job-after-restart", [received, deferred], expected_version=0)
            break
        except Exception:
            await asyncio.sleep(0.2)
    try:
        async with asyncio.timeout(20):
            while (await event_store.read_stream("job-after-restart"))[-1].type != JobResumed.type:
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(resumer, 5)
