"""FastStream NATS wiring for a step: one durable pull consumer per service, explicit acks.

FastStream's default for NATS terminates a message on any exception; here every message is
acknowledged by hand after the StepRunner decided: ack, or nak with a delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import structlog
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from pydantic import ValidationError

from figsync_contracts import Envelope
from figsync_contracts.subjects import subject_filter
from figsync_runtime.logs import adopt_logger
from figsync_runtime.settings import RuntimeSettings
from figsync_runtime.steps import STORE_UNAVAILABLE, Ack, Redeliver, StepRunner
from figsync_runtime.tracing import context_from_headers

log = structlog.get_logger("figsync.consumer")
tracer = trace.get_tracer("figsync.consumer")


def coded_fetch_timeout(fetch: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """nats-py sometimes ends an idle pull fetch with a bare asyncio.TimeoutError (its
    deadline check); FastStream suppresses only nats.errors.TimeoutError, so each one logged a
    traceback and restarted the consume task. This turns the bare one into the coded one."""

    async def fetch_with_coded_timeout(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as error:
            raise nats.errors.TimeoutError from error

    fetch_with_coded_timeout.figsync_wrapped = True  # type: ignore[attr-defined]
    return fetch_with_coded_timeout


if not getattr(JetStreamContext.PullSubscription.fetch, "figsync_wrapped", False):
    JetStreamContext.PullSubscription.fetch = coded_fetch_timeout(  # type: ignore[method-assign]
        JetStreamContext.PullSubscription.fetch
    )


async def _keep_alive(msg: NatsMessage, every: float) -> None:
    """Tell JetStream the message is still being worked on, so a slow step (several paced
    API calls) is not redelivered to another replica while it runs."""
    while True:
        await asyncio.sleep(max(every, 0.5))
        try:
            await msg.in_progress()
        except Exception as error:  # the connection may be reconnecting; the step goes on
            log.warning("could not extend the ack deadline", error=str(error))


def build_broker(nats_url: str, service: str, graceful_timeout: float = 10.0) -> NatsBroker:
    """A broker that reconnects forever (NATS restarts are routine, not fatal). Its log lines go
    to the root handler (configure_logging's renderer), not FastStream's own coloured handler:
    without `logger=` it builds "faststream.access.nats" with a stdout handler at connect."""
    return NatsBroker(
        nats_url,
        name=f"figsync-{service}",
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=graceful_timeout,
        logger=adopt_logger("faststream.access.nats"),
        log_level=20,
    )


def consumer_config(runner: StepRunner, durable: str, settings: RuntimeSettings) -> ConsumerConfig:
    """The JetStream consumer: durable, explicit ack, redelivery limits left to the runner."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subjects=sorted(subject_filter(t) for t in runner.subscribed_types),
        ack_policy=JsAckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        # Unlimited at the server: the runner ends the job with JobFailed after its last
        # attempt, so a message is never silently dropped by max_deliver.
        max_deliver=-1,
        ack_wait=settings.ack_wait_seconds,
        max_ack_pending=settings.max_ack_pending,
    )


def subscribe(
    broker: NatsBroker,
    runner: StepRunner,
    settings: RuntimeSettings,
    durable: str,
    stopping: asyncio.Event | None = None,
) -> None:
    """Attach the runner to the events stream through the service's durable consumer. Once
    `stopping` is set, a message that has not started yet is given back at once (nak)."""

    @broker.subscriber(
        "",
        stream=JStream(settings.stream_name, declare=False),
        durable=durable,
        config=consumer_config(runner, durable, settings),
        pull_sub=PullSub(batch_size=settings.pull_batch_size, timeout=1.0),
        max_workers=settings.consumer_max_workers,
        ack_policy=AckPolicy.MANUAL,
        title=f"{durable} consumer",
    )
    async def on_message(msg: NatsMessage) -> None:
        raw = msg.raw_message
        if stopping is not None and stopping.is_set():
            await msg.nack()
            return
        try:
            envelope = Envelope.model_validate_json(raw.data)
        except ValidationError as error:
            log.error("message is not an event envelope; terminated", subject=raw.subject,
                      error=str(error)[:500])  # fmt: skip
            await msg.reject()
            return
        attempt = raw.metadata.num_delivered if raw.metadata else 1
        with tracer.start_as_current_span(
            f"process {raw.subject}",
            context=context_from_headers(raw.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": raw.subject,
                "messaging.consumer.group.name": durable,
                "messaging.message.id": envelope.id,
                "messaging.nats.delivery_count": attempt,
            },
        ):
            heartbeat = asyncio.create_task(_keep_alive(msg, settings.ack_wait_seconds / 3))
            try:
                decision = await runner.process(envelope, attempt)
            except STORE_UNAVAILABLE as error:
                # Postgres went away between reads (a restart, a failover): try again soon.
                log.warning("event store unavailable; message given back", error=str(error))
                decision = Redeliver(2.0, "store.unavailable")
            except asyncio.CancelledError:
                # Shutdown outlasted the grace: hand the message to another replica now
                # rather than after the ack wait. Idempotent steps make the repeat safe.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(msg.nack())
                log.info("step cancelled at shutdown; message given back", subject=raw.subject)
                raise
            finally:
                heartbeat.cancel()
        if isinstance(decision, Ack):
            await msg.ack()
        else:
            await msg.nack(delay=decision.delay)
