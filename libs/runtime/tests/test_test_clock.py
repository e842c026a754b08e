"""Test hooks: the clock a test moves forward, crash points, and the refusal to start with any
of them outside development. They come from the test kit (FIGSYNC_TESTKIT_*), never from a
production setting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import EmailReceived, JobDeferred, JobResumed, new_envelope
from figsync_runtime.hooks import NO_HOOKS, Hooks
from figsync_runtime.resumer import resume_due
from figsync_runtime.service import serve
from figsync_runtime.settings import RuntimeSettings, SettingsError
from figsync_runtime.steps import SystemClock
from figsync_testkit.hooks import OffsetClock, hooks_from_env


@pytest.mark.unit
def test_the_offset_file_moves_the_clock_and_hooks_are_off_without_testkit_variables(tmp_path):
    assert NO_HOOKS.active == []
    assert hooks_from_env({}).active == []
    offset = tmp_path / "offset"
    hooks = hooks_from_env({"FIGSYNC_TESTKIT_CLOCK_OFFSET_FILE": str(offset)})
    assert hooks.active == ["clock"]
    clock = hooks.clock
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # no file yet: 0
    offset.write_text("7200")
    assert clock.now() - datetime.now(UTC) > timedelta(seconds=7190)
    offset.write_text("not a number")
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.unit
def test_every_testkit_variable_becomes_its_hook(tmp_path):
    hooks = hooks_from_env({
        "FIGSYNC_TESTKIT_NOTION_HANG_AFTER_CREATE": str(tmp_path / "a"),
        "FIGSYNC_TESTKIT_NOTIFIER_HANG_AFTER_REPLY": str(tmp_path / "b"),
        "FIGSYNC_TESTKIT_RELAY_HANG_AFTER_PUBLISH": str(tmp_path / "c"),
        "FIGSYNC_TESTKIT_PROJECTOR_HANG_IN_BATCH": str(tmp_path / "d"),
        "FIGSYNC_TESTKIT_PROJECTOR_HANG_AFTER_POSITION": "10",
        "FIGSYNC_TESTKIT_INSECURE_HOSTS": "127.0.0.1:9, localhost:8",
    })  # fmt: skip
    assert hooks.active == [
        "insecure_hosts", "notifier_after_reply", "notion_after_create", "projector_in_batch",
        "relay_after_publish",
    ]  # fmt: skip
    assert hooks.insecure_hosts == {"127.0.0.1:9", "localhost:8"}
    hooks.projector_in_batch(3)  # before the position: passes by, writes no marker
    assert not (tmp_path / "d").exists()


@pytest.mark.unit
@pytest.mark.parametrize("hooks", [Hooks(clock=SystemClock()), Hooks(insecure_hosts={"h:1"})])
def test_a_service_refuses_test_hooks_outside_development(hooks, monkeypatch):
    import figsync_runtime.hooks as installed

    monkeypatch.setattr(installed, "_installed", hooks)
    settings = RuntimeSettings(
        environment="production", secret_key="x" * 43 + "=", database_url="postgresql://x/y",
        nats_url="nats://127.0.0.1:1",
    )  # fmt: skip

    async def nothing(resources):
        raise AssertionError("must not get this far")

    with pytest.raises(SettingsError, match="test_hooks_outside_development"):
        asyncio.run(serve("test", settings, nothing))


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
