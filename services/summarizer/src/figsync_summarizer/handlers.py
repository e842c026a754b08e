"""The summarize step: ThreadResolved → SummaryGenerated, by the model, the cache or the fallback.

Whatever happens, the job reaches SummaryGenerated: AI off, no key, budget spent, circuit
open, the API refusing, invalid answers, or the API unavailable on the last attempt all end in
the deterministic fallback (source=fallback, with the reason), so the task is still created.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import structlog

from figsync_clients.budget import Budget, Budgets, LocalBudgets
from figsync_clients.resilience import CircuitOpen
from figsync_contracts import (
    BudgetExceeded,
    Envelope,
    SummaryGenerated,
    SummaryRefreshed,
    TaskSummary,
    ThreadResolved,
    ThreadUpdated,
    new_envelope,
)
from figsync_eventstore import Appended, EventStore
from figsync_runtime import PermanentError, RetryableError, StepContext, WaitError
from figsync_runtime.teams import DEFAULT_TEAM, TeamSettings
from figsync_runtime.tracing import current_traceparent
from figsync_summarizer.adapters.anthropic_api import ModelRejected, ModelReply, ModelUnavailable
from figsync_summarizer.pricing import cost_usd, price_for
from figsync_summarizer.settings import SummarizerSettings
from figsync_summarizer.summary import (
    FALLBACK_VERSION,
    PROMPT_VERSION,
    InvalidSummary,
    Summary,
    build_prompt,
    correction_prompt,
    fallback_summary,
    parse_summary,
    system_prompt,
    thread_size,
)

log = structlog.get_logger("figsync.summarizer")

SOURCE = "/services/summarizer"


class Teams(Protocol):
    async def get(self, team: str) -> TeamSettings | None: ...
    async def get_secret(self, team: str, name: str) -> str | None: ...


class Messages(Protocol):
    async def create(
        self,
        *,
        api_key: str,
        model: str,
        system: str,
        prompt: str,
        max_tokens: int,
        max_tasks: int = 1,
    ) -> ModelReply: ...


class Cache(Protocol):
    async def get(self, key: str) -> Cached | None: ...
    async def put(
        self,
        key: str,
        *,
        team: str,
        model: str,
        prompt_version: str,
        attempted: Attempted,
        job_id: str | None = None,
    ) -> None: ...


class Spend(Protocol):
    async def spent(self, team: str, start: datetime, end: datetime) -> Decimal: ...


def cache_key(team: str, model: str, prompt_version: str, system: str, prompt: str) -> str:
    """Same team, instructions and thread content (as prompted), model and prompt version →
    same key."""
    material = json.dumps([team, model, prompt_version, system, prompt], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def is_simple(settings: SummarizerSettings, team: TeamSettings, thread: ThreadResolved) -> bool:
    """Whether the thread is no longer than the team's threshold for the cheaper model."""
    limit = team.ai_simple_max_chars
    if limit is None:
        limit = settings.ai_simple_max_chars
    return bool(limit) and thread_size(thread) <= limit


def choose_model(settings: SummarizerSettings, team: TeamSettings, thread: ThreadResolved) -> str:
    """The cheaper model for a thread no longer than the team's threshold, else its model."""
    if is_simple(settings, team, thread):
        return team.ai_simple_model or settings.ai_simple_model
    return team.ai_model or settings.ai_model


def month_bounds(now: datetime) -> tuple[str, datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.strftime("%Y-%m"), start, end


def budget_stream_id(team: str, month: str) -> str:
    """The stream whose one event says a team's budget for a month is spent."""
    return f"budget:{team}:{month}"


@dataclass
class Attempted:
    """What the model calls of one delivery cost, and the summary if one was usable."""

    summary: Summary | None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    problem: str = ""


@dataclass(frozen=True)
class Cached:
    """A cached summary (in `attempted`, with what writing it cost) and the job it was
    written for."""

    attempted: Attempted
    job_id: str | None

    @property
    def summary(self) -> Summary:
        assert self.attempted.summary is not None  # only usable answers are cached
        return self.attempted.summary


@dataclass
class Summarize:
    """The step's handler, over its ports."""

    settings: SummarizerSettings
    store: EventStore
    teams: Teams
    messages: Messages
    cache: Cache
    spend: Spend
    # The key's requests per minute, paced for every replica together (LocalBudgets: one
    # process only, for tests).
    budgets: Budgets = field(default_factory=LocalBudgets)

    async def __call__(self, ctx: StepContext) -> None:
        event = ctx.event()
        if isinstance(event, ThreadUpdated):
            thread = self._updated_thread(ctx, event)
            if thread is None:
                return
        elif isinstance(event, ThreadResolved):
            thread = event
        else:
            raise PermanentError(
                "summarizer.unexpected_input", f"cannot summarise {ctx.input.type}"
            )
        team = await self.teams.get(ctx.team) or TeamSettings(team=ctx.team)
        model = choose_model(self.settings, team, thread)
        most = team.max_tasks_per_thread
        system, prompt = system_prompt(team.ai_instructions, most), build_prompt(thread)

        if not team.ai_enabled:
            return await self._fallback(ctx, thread, model, "ai_disabled")

        key = cache_key(ctx.team, model, PROMPT_VERSION, system, prompt)
        cached = await self.cache.get(key)
        if cached is not None:
            # This job's own answer (an attempt that died after the model answered, before
            # recording it) is recorded as what it was, with what it cost; another job's is free.
            own = cached.job_id == ctx.job_id
            return await self._emit(ctx, cached.summary, model, PROMPT_VERSION,
                                    "ai" if own else "cache", cached.attempted if own else None)  # fmt: skip

        api_key = await self.api_key(ctx.team)
        if api_key is None:
            log.warning("no Anthropic API key for the team; using the fallback summary")
            return await self._fallback(ctx, thread, model, "anthropic.no_api_key")

        month, start, end = month_bounds(ctx.clock.now())
        budget = team.ai_monthly_budget_usd
        spent = Decimal("0")
        if budget is not None:
            spent = await self.spend.spent(ctx.team, start, end)
            if spent >= budget:
                await self.budget_exceeded(ctx.team, ctx.trigger, month, budget, spent)
                return await self._fallback(ctx, thread, model, "budget_exceeded")

        try:
            attempted = await self.ask_model(api_key, model, system, prompt, most)
        except CircuitOpen as error:
            return await self._fallback(ctx, thread, model, error.code)
        except ModelUnavailable as error:
            return await self._unavailable(ctx, thread, model, error)
        except ModelRejected as error:
            log.error("the Anthropic API refused the request", code=error.code,
                      error_message=error.message)  # fmt: skip
            return await self._fallback(ctx, thread, model, error.code)

        if attempted.summary is None:
            log.warning("the model's answer was invalid twice; using the fallback summary",
                        problem=attempted.problem)  # fmt: skip
            await self._fallback(ctx, thread, model, "invalid_output", attempted)
        else:
            await self.cache.put(
                key, team=ctx.team, model=model, prompt_version=PROMPT_VERSION,
                attempted=attempted, job_id=ctx.job_id,
            )  # fmt: skip
            await self._emit(ctx, attempted.summary, model, PROMPT_VERSION, "ai", attempted)
        if budget is not None and spent + attempted.cost >= budget:
            await self.budget_exceeded(ctx.team, ctx.trigger, month, budget, spent + attempted.cost)

    def _updated_thread(self, ctx: StepContext, update: ThreadUpdated) -> ThreadResolved | None:
        """The whole thread to summarise again, once no more replies are coming: an update
        waits a few seconds, and one followed by another is left to the later one (several
        replies, one refresh). None: nothing to do for this update."""
        position = next((e.position for e in ctx.history if e.event_id == ctx.input.id), None)
        if any(
            e.type == ThreadUpdated.type and position is not None and e.position > position
            for e in ctx.history
        ):
            log.info("thread update coalesced into a later one")
            return None
        waited = (ctx.clock.now() - ctx.input.time).total_seconds()
        window = self.settings.thread_update_coalesce_seconds
        if waited < window:
            raise WaitError(
                "summarizer.coalescing", "waiting for more replies", retry_after=window - waited
            )
        resolved = [e for e in ctx.history if e.type == ThreadResolved.type]
        if not resolved:
            raise PermanentError(
                "summarizer.thread_missing", "a thread update came to a job with no thread"
            )
        first = ThreadResolved.model_validate(resolved[-1].data)
        return first.model_copy(update={"thread": update.thread})

    async def api_key(self, team: str) -> str | None:
        """The team's Anthropic key, else the default team's, else the service's."""
        key = await self.teams.get_secret(team, "anthropic_api_key")
        if key is None and team != DEFAULT_TEAM:
            key = await self.teams.get_secret(DEFAULT_TEAM, "anthropic_api_key")
        if key is None and self.settings.anthropic_api_key is not None:
            key = self.settings.anthropic_api_key.get_secret_value()
        return key

    async def ask_model(
        self, api_key: str, model: str, system: str, prompt: str, max_tasks: int = 1
    ) -> Attempted:
        """The forced tool call, validated; one corrective call if the answer doesn't fit."""
        price = price_for(self.settings.ai_prices, model)
        attempted = Attempted(summary=None)
        max_tokens = self.settings.ai_max_tokens
        request = prompt
        budget = Budget.for_secret(
            "anthropic", api_key, self.settings.anthropic_requests_per_minute, period=60.0
        )
        for _ in range(2):
            permit = await self.budgets.acquire(budget)
            try:
                reply = await self.messages.create(
                    api_key=api_key, model=model, system=system, prompt=request,
                    max_tokens=max_tokens, max_tasks=max_tasks,
                )  # fmt: skip
            except ModelUnavailable as error:
                if error.code == "anthropic.rate_limited":
                    await self.budgets.limited(budget, error.retry_after)
                else:
                    await self.budgets.done(permit, ok=False)
                raise
            except ModelRejected:
                await self.budgets.done(permit, ok=True)  # the API is up; the request was wrong
                raise
            await self.budgets.done(permit, ok=True)
            if reply.exhausted_for:
                await self.budgets.limited(budget, reply.exhausted_for)
            attempted.input_tokens += reply.input_tokens
            attempted.output_tokens += reply.output_tokens
            attempted.cost += cost_usd(price, reply.input_tokens, reply.output_tokens)
            try:
                if reply.tool_input is None:
                    raise InvalidSummary(f"no {reply.stop_reason or 'tool'} answer with the tool")
                attempted.summary = parse_summary(reply.tool_input).limited(max_tasks)
                return attempted
            except InvalidSummary as invalid:
                reason = invalid.reason
                if reply.stop_reason == "max_tokens":
                    reason = f"the answer was cut off at max_tokens={max_tokens}"
                    max_tokens = max(max_tokens, self.settings.ai_retry_max_tokens)
                attempted.problem = reason
                log.info("invalid answer from the model", problem=reason)
                request = correction_prompt(prompt, reason)
        return attempted

    async def _unavailable(
        self, ctx: StepContext, thread: ThreadResolved, model: str, error: ModelUnavailable
    ) -> None:
        # The SDK has already retried within this delivery. Redeliver (the runtime's growing
        # delay) until the last attempt that may try the model, then fall back: a summary is
        # never worth a failed job. A Retry-After too long to wait for falls back at once.
        last_attempt = min(self.settings.ai_attempts, self.settings.max_deliveries)
        wait = error.retry_after or 0.0
        if wait >= self.settings.ai_fallback_retry_after_seconds or (
            ctx.attempt >= last_attempt and error.code != "anthropic.rate_limited"
        ):
            log.warning("the Anthropic API stayed unavailable; using the fallback summary",
                        code=error.code, attempt=ctx.attempt)  # fmt: skip
            return await self._fallback(ctx, thread, model, error.code)
        if error.code == "anthropic.rate_limited":
            # A short rate limit is a reason to wait (every replica holds back), not a failure.
            raise WaitError(error.code, error.message, retry_after=error.retry_after or 1.0)
        raise RetryableError(error.code, error.message, retry_after=error.retry_after)

    async def _fallback(
        self,
        ctx: StepContext,
        thread: ThreadResolved,
        model: str,
        reason: str,
        attempted: Attempted | None = None,
    ) -> None:
        summary = fallback_summary(thread)
        await self._emit(ctx, summary, model, FALLBACK_VERSION, "fallback", attempted, reason)

    async def _emit(
        self,
        ctx: StepContext,
        summary: Summary,
        model: str,
        prompt_version: str,
        source: str,
        attempted: Attempted | None = None,
        reason: str | None = None,
    ) -> None:
        # A fallback after invalid answers still records what those calls cost: the budget
        # counts what was spent, not what was used.
        kind = SummaryRefreshed if ctx.input.type == ThreadUpdated.type else SummaryGenerated
        await ctx.emit(
            kind(
                title=summary.title,
                summary=summary.summary,
                action_items=summary.action_items,
                priority=summary.priority,
                category=summary.category,
                model=model,
                prompt_version=prompt_version,
                input_tokens=attempted.input_tokens if attempted else 0,
                output_tokens=attempted.output_tokens if attempted else 0,
                cost_usd=attempted.cost if attempted else Decimal("0"),
                source=source,  # type: ignore[arg-type]
                fallback_reason=reason,
                tasks=[TaskSummary(**t.model_dump()) for t in summary.tasks],
            )
        )

    async def budget_exceeded(
        self, team: str, causation: Envelope | None, month: str, budget: Decimal, spent: Decimal
    ) -> None:
        """Record that the team's budget for the month is spent (once per team and month)."""
        # Exactly once per team and month, whichever replica or job sees it first: the first
        # append to the month's budget stream wins (expected version 0); the others conflict.
        stream = budget_stream_id(team, month)
        envelope = new_envelope(
            BudgetExceeded(month=month, budget_usd=budget, spent_usd=spent),
            stream_id=stream,
            team=team,
            source=SOURCE,
            causation=causation,
            traceparent=current_traceparent(),
        )
        outcome = await self.store.append(stream, [envelope], expected_version=0)
        if isinstance(outcome, Appended):
            log.warning("the team's monthly AI budget is spent; summaries fall back",
                        month=month, budget_usd=str(budget), spent_usd=str(spent))  # fmt: skip
