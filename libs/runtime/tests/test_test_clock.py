"""The test-only clock override: an offset file moves the resumer's clock forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import EmailReceived, JobDeferred, JobResumed, new_envelope
from figsync_runtime.resumer import resume_due
from figsync_runtime.steps import OffsetClock, SystemClock, default_clock


@pytest.mark.unit
def test_the_offset_file_moves_the_clock_and_is_off_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("FIGSYNC_TEST_CLOCK_OFFSET_FILE", raising=False)
    assert isinstance(default_clock(), SystemClock)
    offset = tmp_path / "offset"
    monkeypatch.setenv("FIGSYNC_TEST_CLOCK_OFFSET_FILE", str(offset))
    clock = default_clock()
    assert isinstance(clock, OffsetClock)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # no file yet: 0
    offset.write_text("7200")
    assert clock.now() - datetime.now(UTC) > timedelta(seconds=7190)
    offset.write_text("not a number")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.integration
async def test_a_deferred_job_resumes_once_the_offset_passes_its_time(event_store, tmp_path):
    received = new_envelope(
        EmailReceived(transport="json", message_id="m", sender="s", recipients=["r"],
                      subject="", html="<p/>", received_at=datetime.now(UTC)),
        stream_id="job-clock", team="default", source="/tests",
    )  # fmt: skip
    deferred = new_envelope(
        JobDeferred(step="figma", code="figma.rate_limited",
                    until=datetime.now(UTC) + timedelta(hours=2), attempts=1),
        stream_id="job-clock", team="default", source="/tests", causation=received,
    )  # fmt: skip
    await event_store.append("job-clock", [received, deferred], expected_version=0)
    offset = tmp_path / "offset"
    clock = OffsetClock(str(offset))
    assert await resume_due(event_store, "figma", SystemClock()) == 0
    assert await resume_due(event_store, "figma", clock) == 0
    offset.write_text(str(2 * 3600 + 60))
    assert await resume_due(event_store, "figma", clock) == 1
    stream = await event_store.read_stream("job-clock")
    assert stream[-1].type == JobResumed.type
