"""A job's spans form one trace: event metadata → relay publish → consumer → step → next event."""

import asyncio
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from figsync_contracts import EmailReceived, ThreadResolved, new_envelope
from figsync_eventstore.relay import Relay, RelaySettings
from figsync_runtime import RuntimeSettings, Step, StepContext, Wiring, serve
from figsync_runtime.tracing import current_traceparent
from figsync_testkit.embedded import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_a_jobs_spans_share_one_trace_with_unbroken_parent_links(
    spans, database_url, nats_url, event_store
):
    async def handle(ctx: StepContext) -> None:
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
            )
        )

    async def build(_):
        step = Step("figma", consumes=[EmailReceived], produces=[ThreadResolved], handle=handle)
        return Wiring(steps=[step])

    stop = asyncio.Event()
    settings = RuntimeSettings(database_url=database_url, nats_url=nats_url, http_port=free_port())
    service = asyncio.create_task(serve("figma", settings, build, stop=stop))
    relay = Relay(database_url, nats_url, settings=RelaySettings(poll_interval_seconds=0.2))
    relay_task = asyncio.create_task(relay.run(stop))
    tracer = trace.get_tracer("test")
    spans.clear()
    try:
        with tracer.start_as_current_span("POST /v1/inbound/email") as ingress:
            incoming = new_envelope(
                EmailReceived(
                    transport="json", message_id="<t@x>", sender="comments-K@email.figma.com",
                    recipients=["a@b.c"], subject="s", html="<p/>", received_at=datetime.now(UTC),
                ),
                stream_id="job-t", team="acme", source="/tests", traceparent=current_traceparent(),
            )  # fmt: skip
            await event_store.append("job-t", [incoming], expected_version=0)
        trace_id = ingress.get_span_context().trace_id
        async with asyncio.timeout(20):
            while (
                len(await event_store.read_stream("job-t")) < 2
                or len([s for s in spans.get_finished_spans() if s.name.startswith("publish")]) < 2
            ):
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(service, relay_task), 30)

    job_spans = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in job_spans}
    names = [s.name for s in sorted(job_spans, key=lambda s: s.start_time)]
    assert names[:5] == [
        "POST /v1/inbound/email",
        "publish figsync.events.email_received.v1",
        "process figsync.events.email_received.v1",
        "figma figsync.email_received.v1",
        "publish figsync.events.thread_resolved.v1",
    ], names
    for span in job_spans:
        if span.name != "POST /v1/inbound/email":
            assert span.parent is not None and span.parent.span_id in by_id, span.name
    consumer = next(s for s in job_spans if s.name.startswith("process"))
    assert consumer.kind == trace.SpanKind.CONSUMER
    assert consumer.attributes["messaging.system"] == "nats"
    assert consumer.attributes["messaging.consumer.group.name"] == "figsync-figma"
    producer = next(s for s in job_spans if s.name.startswith("publish"))
    assert producer.kind == trace.SpanKind.PRODUCER
    assert producer.attributes["messaging.message.id"] == incoming.id
