"""The summarizer as its own process: a ThreadResolved in the store becomes SummaryGenerated."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from summarizer_testing import DEFAULT_THREAD, thread_event

from figsync_contracts import SummaryGenerated, new_envelope

pytestmark = pytest.mark.e2e


async def test_the_running_service_summarises_a_resolved_thread(spawn, event_store, sandbox_api):
    spawn("figsync_runtime.relay_main")
    service = spawn(
        "figsync_summarizer.main",
        FIGSYNC_ANTHROPIC_API_URL=sandbox_api.anthropic_url,
        ANTHROPIC_API_KEY=sandbox_api.anthropic_key,
    )
    job = str(uuid.uuid4())
    envelope = new_envelope(
        thread_event(*DEFAULT_THREAD), stream_id=job, team="default", source="/test"
    )
    await event_store.append(job, [envelope], expected_version=0)

    deadline = time.monotonic() + 30
    found = []
    while not found and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = [e for e in await event_store.read_stream(job) if e.type == SummaryGenerated.type]
    assert found, service.logs()[-3000:]
    summary = SummaryGenerated.model_validate(found[0].data)
    assert summary.source == "ai"
    assert found[0].metadata["causationid"] == envelope.id
    assert len(sandbox_api.anthropic.snapshot()["messages"]) == 1
