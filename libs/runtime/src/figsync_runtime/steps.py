"""The step runner: how a service handles one event of a job, whatever the transport.

It decides idempotency (is this step's outcome already in the job's stream?), runs the
handler, and turns failures into the retry policy: redeliver with growing delay, defer a job
told to come back much later, or end it with JobFailed after the last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import structlog
from opentelemetry import trace

from figsync_contracts import (
    EffectIntended,
    Envelope,
    Event,
    JobDeferred,
    JobFailed,
    JobResumed,
    JobRetryRequested,
    new_envelope,
)
from figsync_eventstore import Appended, Conflict, EventStore, RecordedEvent, stored_size
from figsync_runtime.errors import PermanentError, RetryableError, StepError, WaitError
from figsync_runtime.metrics import MESSAGES, STEP_SECONDS
from figsync_runtime.tracing import context_from_traceparent, current_traceparent

log = structlog.get_logger("figsync.steps")
tracer = trace.get_tracer("figsync.steps")

RE_DRIVERS = (JobRetryRequested.type, JobResumed.type)
# What a step meets while Postgres restarts or fails over (connections refused or cut).
STORE_UNAVAILABLE = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class Clock(Protocol):
    def now(self) -> datetime: ...


class StepLocks(Protocol):
    """Mutual exclusion per key across processes (the Postgres one: figsync_runtime.locks)."""

    def hold(self, key: str) -> AbstractAsyncContextManager[bool]: ...


class Attempts(Protocol):
    """Failed attempts per step and trigger, across replicas (Postgres: figsync_runtime.locks)."""

    async def failed(self, key: str) -> int: ...

    async def count(self, key: str) -> int: ...


class MemoryAttempts:
    """For a single process: failures counted in a dict."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}

    async def failed(self, key: str) -> int:
        self.failures[key] = self.failures.get(key, 0) + 1
        return self.failures[key]

    async def count(self, key: str) -> int:
        return self.failures.get(key, 0)


class NoLocks:
    """For a single process (unit tests, the in-memory store): every lock is free."""

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        yield True


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class StepContext:
    """What a handler gets: the job's input event, its stream so far, and a way to append."""

    step: str
    source: str
    input: Envelope
    trigger: Envelope
    history: list[RecordedEvent]
    store: EventStore
    attempt: int
    clock: Clock
    max_event_bytes: int = 900_000

    @property
    def job_id(self) -> str:
        return self.input.subject

    @property
    def team(self) -> str:
        return self.input.team

    def event(self) -> Event:
        return self.input.event()

    def intents(self, effect: str) -> list[EffectIntended]:
        """Intents of this effect already recorded in the job (a retry after a crash)."""
        found = []
        for recorded in self.history:
            if recorded.type == EffectIntended.type:
                intent = EffectIntended.model_validate(recorded.data)
                if intent.effect == effect:
                    found.append(intent)
        return found

    async def record_intent(
        self, effect: str, key: str, context: dict[str, str] | None = None
    ) -> None:
        """Record, before an external call, that this step is about to cause `effect` (with
        what it decided for it, which its retries reuse)."""
        intent = EffectIntended(step=self.step, effect=effect, key=key, context=context or {})
        await self.emit(intent, final=False)

    async def emit(self, *events: Event, final: bool = True) -> None:
        """Append events to the job, after everything this step has seen; a concurrent append
        by another replica is a redelivery (the next attempt sees what it did)."""
        envelopes = [
            new_envelope(
                e,
                stream_id=self.job_id,
                team=self.team,
                source=self.source,
                causation=self.trigger,
                traceparent=current_traceparent(),
            )
            for e in events
        ]
        for envelope in envelopes:
            size = stored_size(envelope)
            if size > self.max_event_bytes:
                raise PermanentError(
                    "event.too_large",
                    f"{envelope.type} would be {size} bytes, more than the {self.max_event_bytes} "
                    "the transport carries (FIGSYNC_MAX_EVENT_BYTES, within NATS max_payload)",
                )
        outcome = await self.store.append(self.job_id, envelopes, expected_version=self._version)
        if isinstance(outcome, Conflict):
            raise RetryableError(
                "store.conflict", "another replica appended to this job; will re-check"
            )
        if isinstance(outcome, Appended):
            self._version = outcome.version
            self.history.extend(await self._read_appended(outcome))

    async def refresh(self) -> None:
        """Catch up with what other steps appended meanwhile (for a step whose events do not
        depend on theirs, so a concurrent append need not cost a redelivery)."""
        self.history = await self.store.read_stream(self.job_id)
        self._version = self.history[-1].version if self.history else 0

    async def _read_appended(self, outcome: Appended) -> list[RecordedEvent]:
        stream = await self.store.read_stream(self.job_id)
        return [e for e in stream if e.position in outcome.positions]

    def __post_init__(self) -> None:
        self._version = self.history[-1].version if self.history else 0


async def append_after(
    store: EventStore,
    stream_id: str,
    history: Sequence[RecordedEvent],
    event: Event,
    *,
    team: str,
    source: str,
) -> None:
    """Append to another stream (another job) right after `history`, as just read: if it moved
    on meanwhile, that is a retry (store.conflict) that reads it again, never a blind write."""
    envelope = new_envelope(event, stream_id=stream_id, team=team, source=source,
                            correlation_id=stream_id, traceparent=current_traceparent())  # fmt: skip
    version = history[-1].version if history else 0
    if isinstance(await store.append(stream_id, [envelope], expected_version=version), Conflict):
        raise RetryableError("store.conflict", f"{stream_id} changed meanwhile; will re-check")


async def every(seconds: float, stop: asyncio.Event) -> AsyncIterator[None]:
    """A background loop's beat: now, then every `seconds` until `stop` is set."""
    while not stop.is_set():
        yield
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


Handler = Callable[[StepContext], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """A service's step: which events start it, which events mean it is done, and its handler."""

    name: str
    consumes: Sequence[type[Event]]
    produces: Sequence[type[Event]]
    handle: Handler
    source: str = ""

    @property
    def input_types(self) -> set[str]:
        return {c.type for c in self.consumes}

    @property
    def done_types(self) -> set[str]:
        return {p.type for p in self.produces} | {JobFailed.type, JobDeferred.type}


@dataclass(frozen=True)
class RetryPolicy:
    """When to redeliver, defer, or give up."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    defer_threshold: float = 600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class Ack:
    """Done with this message (handled, skipped, or ended with a terminal event)."""

    reason: str


@dataclass(frozen=True)
class Redeliver:
    """Try again after `delay` seconds."""

    delay: float
    code: str


Decision = Ack | Redeliver


@dataclass
class StepRunner:
    """Runs one step for delivered events and decides what the transport does next."""

    step: Step
    store: EventStore
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = field(default_factory=SystemClock)
    locks: StepLocks = field(default_factory=lambda: NoLocks())
    attempts: Attempts = field(default_factory=MemoryAttempts)
    max_event_bytes: int = 900_000

    @property
    def subscribed_types(self) -> set[str]:
        return self.step.input_types | set(RE_DRIVERS)

    async def process(self, delivered: Envelope, attempt: int) -> Decision:
        """Handle one delivery of `delivered` (`attempt`: the transport's delivery count, from
        1). The attempt a handler sees counts only real failures: a delivery that waited for
        a lock, a concurrent append or a rate limit is not one."""
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(job_id=delivered.subject, step=self.step.name)
        try:
            # Under the transport's consumer span when there is one (an unbroken chain
            # publish → process → step); otherwise continue the event's own trace.
            inside_consumer = trace.get_current_span().get_span_context().is_valid
            with tracer.start_as_current_span(
                f"{self.step.name} {delivered.type}",
                context=None
                if inside_consumer
                else context_from_traceparent(delivered.traceparent),
                kind=trace.SpanKind.INTERNAL,
                attributes={"figsync.job_id": delivered.subject, "figsync.step": self.step.name},
            ):
                decision = await self._process(delivered, attempt)
        finally:
            STEP_SECONDS.labels(self.step.name).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("job_id", "step")
        MESSAGES.labels(self.step.name, type(decision).__name__.lower()).inc()
        return decision

    async def _process(self, delivered: Envelope, attempt: int) -> Decision:
        # One delivery of a job at a time in this step, across replicas: a redelivery that
        # overtakes a slow attempt (a NATS restart resets ack deadlines) waits its turn
        # instead of repeating an external effect the slow attempt is about to record.
        async with self.locks.hold(f"{self.step.name}:{delivered.subject}") as held:
            if not held:
                return Redeliver(self.policy.base_delay, "step.busy")
            return await self._process_held(delivered, attempt)

    async def _process_held(self, delivered: Envelope, delivery: int) -> Decision:
        history = await self.store.read_stream(delivered.subject)
        # The stored copy: the transport carries personal fields sealed, the store opens them.
        delivered = next((e.envelope() for e in history if e.event_id == delivered.id), delivered)
        found = self._input_for(delivered, history)
        if found is None:
            return Ack("not for this step")
        trigger, input_ = found
        if any(
            e.type in self.step.done_types and e.metadata.get("causationid") == trigger.id
            for e in history
        ):
            return Ack("already done")
        # The first delivery of a trigger has failed nowhere yet: no query needed.
        attempt = 1 + (await self.attempts.count(self._attempt_key(trigger)) if delivery > 1 else 0)
        context = StepContext(
            step=self.step.name,
            source=self.step.source or f"/services/{self.step.name}",
            input=input_,
            trigger=trigger,
            history=list(history),
            store=self.store,
            attempt=attempt,
            clock=self.clock,
            max_event_bytes=self.max_event_bytes,
        )
        try:
            await self.step.handle(context)
            return Ack("handled")
        except StepError as error:
            return await self._on_error(context, error, attempt)
        except STORE_UNAVAILABLE as error:
            # Postgres restarting or failing over is the platform's trouble, not the job's:
            # wait for it, never count it.
            waiting = WaitError(
                "store.unavailable", f"{type(error).__name__}: {error}", retry_after=2.0
            )
            return await self._on_error(context, waiting, attempt)
        except Exception as error:  # a bug or an unclassified failure: retry, then fail
            log.exception("step raised an unexpected error")
            wrapped = RetryableError(
                f"{self.step.name}.unexpected_error", f"{type(error).__name__}: {error}"
            )
            return await self._on_error(context, wrapped, attempt)

    def _input_for(
        self, delivered: Envelope, history: list[RecordedEvent]
    ) -> tuple[Envelope, Envelope] | None:
        if delivered.type in self.step.input_types:
            return delivered, delivered
        if delivered.type not in RE_DRIVERS:
            return None
        wanted = delivered.event().step  # type: ignore[attr-defined]
        failed_step = self._last_failed_step(history)
        if (wanted or failed_step) != self.step.name:
            return None
        inputs = [e for e in history if e.type in self.step.input_types]
        if not inputs:
            return None
        return delivered, inputs[-1].envelope()

    @staticmethod
    def _last_failed_step(history: list[RecordedEvent]) -> str | None:
        for recorded in reversed(history):
            if recorded.type in (JobFailed.type, JobDeferred.type):
                return recorded.data.get("step")
        return None

    def _attempt_key(self, trigger: Envelope) -> str:
        return f"{self.step.name}:{trigger.id}"

    async def _on_error(self, context: StepContext, error: StepError, attempt: int) -> Decision:
        if error.waiting:
            # Pacing at work, not trouble: no warning, no attempt.
            log.info("step waits", code=error.code, retry_after=error.retry_after)
        else:
            if error.retryable and error.code != "store.conflict":
                attempt = await self.attempts.failed(self._attempt_key(context.trigger))
            log.warning(
                "step failed",
                code=error.code,
                error_message=error.message,
                attempt=attempt,
                retryable=error.retryable,
            )
        if error.retryable and (error.code == "store.conflict" or error.waiting):
            if (error.retry_after or 0) >= self.policy.defer_threshold:
                return await self._defer(context, error, attempt)
            return Redeliver(self.policy.delay(1, error.retry_after), error.code)
        if error.retryable and (error.retry_after or 0) >= self.policy.defer_threshold:
            return await self._defer(context, error, attempt)
        if error.retryable and attempt < self.policy.max_attempts:
            return Redeliver(self.policy.delay(attempt, error.retry_after), error.code)
        return await self._terminal(
            context,
            JobFailed(
                step=self.step.name,
                code=error.code,
                message=error.message,
                attempts=attempt,
                retryable=error.retryable,
                context=error.context,
            ),
            Ack("failed"),
        )

    async def _defer(self, context: StepContext, error: StepError, attempt: int) -> Decision:
        until = self.clock.now() + timedelta(seconds=error.retry_after or 0)
        deferred = JobDeferred(step=self.step.name, code=error.code, until=until, attempts=attempt)
        return await self._terminal(context, deferred, Ack("deferred"))

    async def _terminal(self, context: StepContext, event: Event, done: Ack) -> Decision:
        try:
            await context.emit(event)
        except RetryableError:
            # Another replica appended meanwhile: look again on a redelivery.
            return Redeliver(self.policy.base_delay, "store.conflict")
        return done
