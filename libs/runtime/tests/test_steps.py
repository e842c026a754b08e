from datetime import UTC, datetime, timedelta

import pytest

from figsync_contracts import (
    EmailReceived,
    JobDeferred,
    JobFailed,
    JobResumed,
    JobRetryRequested,
    ThreadResolved,
    new_envelope,
)
from figsync_eventstore import InMemoryEventStore
from figsync_runtime import (
    PermanentError,
    RetryableError,
    Step,
    StepContext,
    StepRunner,
    WaitError,
)
from figsync_runtime.steps import Ack, Redeliver, RetryPolicy

pytestmark = pytest.mark.unit


class FixedClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def email(job: str = "job-1"):
    return new_envelope(
        EmailReceived(
            transport="json", message_id="<m@figma.com>", sender="comments-K@email.figma.com",
            recipients=["a@b.c"], subject="s", html="<p>x</p>", received_at=datetime.now(UTC),
        ),
        stream_id=job, team="acme", source="/services/ingest",
    )  # fmt: skip


def resolved() -> ThreadResolved:
    return ThreadResolved(
        file_key="K", file_name="F", file_url="https://www.figma.com/design/K", comment_id="1",
        root_comment_id="1", author="a", text="t", mentions=["@x"], thread=[],
    )  # fmt: skip


class Script:
    """A handler whose behaviour per call is scripted, and which counts its calls."""

    def __init__(self, *outcomes) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[StepContext] = []

    async def __call__(self, ctx: StepContext) -> None:
        self.calls.append(ctx)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        await ctx.emit(resolved())


async def setup(handler, policy=None):
    store = InMemoryEventStore()
    incoming = email()
    await store.append("job-1", [incoming], expected_version=0)
    step = Step("figma", consumes=[EmailReceived], produces=[ThreadResolved], handle=handler)
    clock = FixedClock()
    runner = StepRunner(step, store, policy or RetryPolicy(max_attempts=3, base_delay=1), clock)
    return store, incoming, runner, clock


async def types(store, job="job-1"):
    return [e.type.split(".")[1] for e in await store.read_stream(job)]


async def test_a_handled_event_appends_the_outcome_caused_by_it():
    handler = Script()
    store, incoming, runner, _ = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Ack("handled")
    stream = await store.read_stream("job-1")
    assert stream[-1].type == ThreadResolved.type
    assert stream[-1].metadata["causationid"] == incoming.id
    assert stream[-1].metadata["correlationid"] == "job-1"


async def test_a_redelivered_event_whose_outcome_is_stored_is_skipped():
    handler = Script()
    store, incoming, runner, _ = await setup(handler)
    await runner.process(incoming, attempt=1)
    assert await runner.process(incoming, attempt=2) == Ack("already done")
    assert len(handler.calls) == 1
    assert await types(store) == ["email_received", "thread_resolved"]


async def test_retryable_errors_redeliver_with_growing_delay_then_fail_the_job():
    boom = RetryableError("figma.unavailable", "Figma answered 503")
    handler = Script(boom, boom, boom)
    store, incoming, runner, _ = await setup(handler)
    first = await runner.process(incoming, attempt=1)
    second = await runner.process(incoming, attempt=2)
    assert isinstance(first, Redeliver) and isinstance(second, Redeliver)
    assert second.delay > first.delay
    assert await runner.process(incoming, attempt=3) == Ack("failed")
    failed = (await store.read_stream("job-1"))[-1]
    assert failed.type == JobFailed.type
    assert failed.data["code"] == "figma.unavailable" and failed.data["attempts"] == 3
    assert failed.data["retryable"] is True


async def test_retry_after_longer_than_the_backoff_is_honoured():
    handler = Script(RetryableError("figma.rate_limited", "429", retry_after=42))
    _, incoming, runner, _ = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Redeliver(42, "figma.rate_limited")


async def test_a_permanent_error_fails_the_job_at_once():
    handler = Script(PermanentError("figma.unauthorized", "the Figma token was refused"))
    store, incoming, runner, _ = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Ack("failed")
    failed = (await store.read_stream("job-1"))[-1]
    assert (failed.data["code"], failed.data["attempts"]) == ("figma.unauthorized", 1)


async def test_an_unexpected_exception_is_retried_then_named_in_the_failure():
    handler = Script(ValueError("bad"), ValueError("bad"), ValueError("bad"))
    store, incoming, runner, _ = await setup(handler)
    for attempt in (1, 2, 3):
        await runner.process(incoming, attempt=attempt)
    failed = (await store.read_stream("job-1"))[-1]
    assert failed.data["code"] == "figma.unexpected_error"
    assert "ValueError: bad" in failed.data["message"]


async def test_a_retry_after_of_hours_defers_the_job_and_it_resumes_from_that_step():
    handler = Script(RetryableError("figma.rate_limited", "429", retry_after=6 * 3600))
    store, incoming, runner, clock = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Ack("deferred")
    deferred = (await store.read_stream("job-1"))[-1]
    assert deferred.type == JobDeferred.type
    assert datetime.fromisoformat(deferred.data["until"]) == clock.current + timedelta(hours=6)

    resume = new_envelope(JobResumed(step="figma"), stream_id="job-1", team="acme", source="/x")
    await store.append("job-1", [resume], expected_version=None)
    assert await runner.process(resume, attempt=1) == Ack("handled")
    assert handler.calls[-1].input.id == incoming.id
    assert (await types(store))[-1] == "thread_resolved"


async def test_a_retry_request_re_drives_only_the_failed_step():
    handler = Script(PermanentError("figma.comment_not_found", "no such comment"))
    store, incoming, runner, _ = await setup(handler)
    await runner.process(incoming, attempt=1)
    retry = new_envelope(JobRetryRequested(), stream_id="job-1", team="acme", source="/x")
    await store.append("job-1", [retry], expected_version=None)
    assert await runner.process(retry, attempt=1) == Ack("handled")
    assert await runner.process(retry, attempt=2) == Ack("already done")
    other = StepRunner(
        Step("notion", consumes=[ThreadResolved], produces=[], handle=Script()), store
    )
    assert await other.process(retry, attempt=1) == Ack("not for this step")
    assert len(handler.calls) == 2


async def test_a_concurrent_append_by_another_replica_leads_to_a_redelivery():
    store, incoming, runner, _ = await setup(None)

    async def racing(ctx: StepContext) -> None:
        await store.append("job-1", [email()], expected_version=None)
        await ctx.emit(resolved())

    runner.step = Step("figma", consumes=[EmailReceived], produces=[ThreadResolved], handle=racing)
    decision = await runner.process(incoming, attempt=1)
    assert isinstance(decision, Redeliver) and decision.code == "store.conflict"
    assert ThreadResolved.type not in {e.type for e in await store.read_stream("job-1")}


async def test_intents_are_recorded_and_seen_on_the_next_attempt():
    seen = []

    async def effectful(ctx: StepContext) -> None:
        seen.append([i.key for i in ctx.intents("notion.page")])
        if not ctx.intents("notion.page"):
            await ctx.record_intent("notion.page", key="job-1")
            raise RetryableError("notion.timeout", "no answer")
        await ctx.emit(resolved())

    store, incoming, runner, _ = await setup(effectful)
    await runner.process(incoming, attempt=1)
    await runner.process(incoming, attempt=2)
    assert seen == [[], ["job-1"]]


async def test_an_idle_fetchs_bare_timeout_becomes_the_coded_one_faststream_expects():
    import nats.errors

    from figsync_runtime.consumer import coded_fetch_timeout

    async def bare(*_, **__):
        raise TimeoutError

    async def coded(*_, **__):
        raise nats.errors.TimeoutError

    for fetch in (bare, coded):
        with pytest.raises(nats.errors.TimeoutError):
            await coded_fetch_timeout(fetch)()


async def test_waiting_on_a_rate_limit_is_never_an_attempt():
    limited = WaitError("figma.rate_limited", "429, Retry-After 2", retry_after=2)
    boom = RetryableError("figma.unavailable", "Figma answered 503")
    handler = Script(*[limited] * 12, boom, boom, limited)
    store, incoming, runner, _ = await setup(handler)  # max_attempts=3
    decisions = [await runner.process(incoming, attempt=n) for n in range(1, 17)]
    assert decisions[:12] == [Redeliver(2, "figma.rate_limited")] * 12
    # Two real failures, then waiting again: still short of the third attempt that fails.
    assert [d.code for d in decisions[12:15]] == ["figma.unavailable"] * 2 + ["figma.rate_limited"]
    assert decisions[15] == Ack("handled")
    assert await types(store) == ["email_received", "thread_resolved"]
    assert handler.calls[-1].attempt == 3  # the handler saw its real attempt number


async def test_a_long_wait_parks_the_job_instead_of_failing_it():
    handler = Script(WaitError("figma.rate_limited", "429", retry_after=3 * 3600))
    store, incoming, runner, _ = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Ack("deferred")
    assert (await store.read_stream("job-1"))[-1].type == JobDeferred.type


async def test_attempts_are_counted_per_trigger_not_per_delivery():
    boom = RetryableError("figma.unavailable", "Figma answered 503")
    handler = Script(boom, boom)
    store, incoming, runner, _ = await setup(handler)
    # The transport says tenth delivery (nine were lock or conflict waits): still attempt 1.
    assert isinstance(await runner.process(incoming, attempt=10), Redeliver)
    assert handler.calls[-1].attempt == 1
    assert isinstance(await runner.process(incoming, attempt=11), Redeliver)
    assert handler.calls[-1].attempt == 2
    assert await runner.process(incoming, attempt=12) == Ack("handled")


async def test_postgres_going_away_mid_step_is_waited_out_never_counted():
    handler = Script(
        ConnectionRefusedError(111, "Connect call failed"),
        RetryableError("figma.unavailable", "Figma answered 503"),
    )
    store, incoming, runner, _ = await setup(handler)
    assert await runner.process(incoming, attempt=1) == Redeliver(2.0, "store.unavailable")
    assert isinstance(await runner.process(incoming, attempt=2), Redeliver)
    assert handler.calls[-1].attempt == 1  # the outage was no attempt
    assert await runner.process(incoming, attempt=3) == Ack("handled")
