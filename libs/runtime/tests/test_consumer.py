import asyncio
from datetime import UTC, datetime

import httpx
import nats
import pytest

from figsync_contracts import EmailReceived, ThreadResolved, new_envelope, subject_for
from figsync_eventstore.relay import Relay, RelaySettings
from figsync_runtime import (
    RetryableError,
    RuntimeSettings,
    Step,
    StepContext,
    Wiring,
    serve,
)
from figsync_testkit.embedded import free_port

pytestmark = pytest.mark.integration


def email(job: str):
    return new_envelope(
        EmailReceived(
            transport="json", message_id=f"<{job}@figma.com>", sender="comments-K@email.figma.com",
            recipients=["a@b.c"], subject="s", html="<p>x</p>", received_at=datetime.now(UTC),
        ),
        stream_id=job, team="acme", source="/services/ingest",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )  # fmt: skip


RESOLVED = ThreadResolved(
    file_key="K", file_name="F", file_url="https://www.figma.com/design/K", comment_id="1",
    root_comment_id="1", author="a", text="t", mentions=["@x"], thread=[],
)  # fmt: skip


async def eventually(check, timeout=20.0):
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(0.1)
        return result


@pytest.fixture
async def running(database_url, nats_url):
    """A service with one scripted step, plus the relay, in this process."""
    calls: list[tuple[str, int]] = []
    failures: dict[str, int] = {}

    async def handle(ctx: StepContext) -> None:
        calls.append((ctx.job_id, ctx.attempt))
        if failures.get(ctx.job_id, 0) > 0:
            failures[ctx.job_id] -= 1
            raise RetryableError("test.flaky", "transient")
        await ctx.emit(RESOLVED)

    async def build(_resources) -> Wiring:
        return Wiring(
            steps=[
                Step("figma", consumes=[EmailReceived], produces=[ThreadResolved], handle=handle)
            ]
        )

    port = free_port()
    settings = RuntimeSettings(
        database_url=database_url, nats_url=nats_url, http_port=port,
        retry_base_delay_seconds=0.2, max_deliveries=3, ack_wait_seconds=5,
    )  # fmt: skip
    stop = asyncio.Event()
    service = asyncio.create_task(serve("figma", settings, build, stop=stop))
    relay = asyncio.create_task(
        Relay(database_url, nats_url, settings=RelaySettings(poll_interval_seconds=0.2)).run(stop)
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

        async def ready():
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready)
        yield calls, failures, http
    stop.set()
    await asyncio.wait_for(asyncio.gather(service, relay), 30)


async def job_types(store, job):
    return [e.type for e in await store.read_stream(job)]


async def test_a_step_consumes_its_event_and_appends_the_next(running, event_store):
    calls, _, _ = running
    incoming = email("job-a")
    await event_store.append("job-a", [incoming], expected_version=0)
    await eventually(lambda: _has(event_store, "job-a", ThreadResolved.type))
    stored = (await event_store.read_stream("job-a"))[-1]
    assert stored.metadata["causationid"] == incoming.id
    assert stored.metadata["traceparent"].split("-")[1] == incoming.traceparent.split("-")[1]
    assert calls == [("job-a", 1)]


async def test_a_transient_failure_is_redelivered_with_its_attempt_count(running, event_store):
    calls, failures, _ = running
    failures["job-b"] = 1
    await event_store.append("job-b", [email("job-b")], expected_version=0)
    await eventually(lambda: _has(event_store, "job-b", ThreadResolved.type))
    assert calls == [("job-b", 1), ("job-b", 2)]


async def test_after_the_last_attempt_the_job_fails_and_the_message_is_acked(
    running, event_store, nats_url
):
    calls, failures, _ = running
    failures["job-c"] = 99
    await event_store.append("job-c", [email("job-c")], expected_version=0)
    failed = await eventually(lambda: _has(event_store, "job-c", "figsync.job_failed.v1"))
    assert failed.data["attempts"] == 3 and failed.data["code"] == "test.flaky"
    await asyncio.sleep(1)
    assert len(calls) == 3
    nc = await nats.connect(nats_url)
    info = await nc.jetstream().consumer_info("FIGSYNC", "figsync-figma")
    await nc.close()
    assert info.num_ack_pending == 0 and info.config.max_deliver == -1


async def test_a_message_delivered_twice_is_handled_once(running, event_store, nats_url):
    calls, _, _ = running
    incoming = email("job-d")
    await event_store.append("job-d", [incoming], expected_version=0)
    await eventually(lambda: _has(event_store, "job-d", ThreadResolved.type))
    nc = await nats.connect(nats_url)
    await nc.jetstream().publish(
        subject_for(incoming.type), incoming.model_dump_json().encode(),
        headers={"Nats-Msg-Id": "another-id"},
    )  # fmt: skip
    await nc.close()
    await asyncio.sleep(1.5)
    assert calls == [("job-d", 1)]
    assert (await job_types(event_store, "job-d")).count(ThreadResolved.type) == 1


async def test_garbage_on_the_stream_is_terminated_not_retried_forever(running, nats_url):
    nc = await nats.connect(nats_url)
    await nc.jetstream().publish(subject_for(EmailReceived.type), b"{not json")
    await asyncio.sleep(1.0)
    info = await nc.jetstream().consumer_info("FIGSYNC", "figsync-figma")
    await nc.close()
    assert info.num_ack_pending == 0 and info.num_redelivered == 0


async def test_health_readiness_and_metrics_are_served(running):
    _, _, http = running
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = (await http.get("/readyz")).json()
    assert ready["checks"] == {"postgres": True, "nats": True, "tasks": True}
    metrics = (await http.get("/metrics")).text
    assert "figsync_step_duration_seconds" in metrics


async def _has(store, job, event_type):
    for recorded in await store.read_stream(job):
        if recorded.type == event_type:
            return recorded
    return None


async def test_a_step_slower_than_the_ack_wait_is_not_redelivered_meanwhile(
    database_url, nats_url, event_store
):
    calls = []

    async def slow(ctx: StepContext) -> None:
        calls.append(ctx.attempt)
        await asyncio.sleep(4)  # longer than the 2 s ack wait
        await ctx.emit(RESOLVED)

    async def build(_resources) -> Wiring:
        return Wiring(steps=[Step("figma", consumes=[EmailReceived], produces=[ThreadResolved],
                                  handle=slow)])  # fmt: skip

    settings = RuntimeSettings(database_url=database_url, nats_url=nats_url, http_port=free_port(),
                               ack_wait_seconds=2)  # fmt: skip
    stop = asyncio.Event()
    service = asyncio.create_task(serve("figma", settings, build, stop=stop))
    relay = asyncio.create_task(
        Relay(database_url, nats_url, settings=RelaySettings(poll_interval_seconds=0.2)).run(stop)
    )
    try:
        await event_store.append("job-slow", [email("job-slow")], expected_version=0)
        await eventually(lambda: _has(event_store, "job-slow", ThreadResolved.type), timeout=30)
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(service, relay), 30)
    assert calls == [1]
