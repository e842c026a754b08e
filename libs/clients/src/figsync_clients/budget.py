"""One rate budget and one circuit breaker per outside credential, shared by every process and
replica through Postgres (migration 0010: a GCRA row per credential, changed atomically).

Why Postgres and GCRA: every process already holds a pool to it, one statement per call
decides (no lease to renew, no leader), and GCRA keeps a single timestamp per credential, so a
429's Retry-After is one update that every holder sees on its next call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from figsync_clients.resilience import CircuitBreakers, CircuitOpen, credential_key
from figsync_runtime.errors import WaitError
from figsync_runtime.metrics import BUDGET_CALLS, BUDGET_CALLS_PER_SECOND, CIRCUIT_OPEN


@dataclass(frozen=True)
class Budget:
    """How fast one credential may call: `rate` calls per `period` seconds, `burst` at once."""

    provider: str
    credential: str  # credential_key(secret), never the secret
    rate: float
    period: float = 60.0
    burst: int = 1

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.credential}"

    @property
    def interval(self) -> float:
        return self.period / self.rate

    @classmethod
    def for_secret(cls, provider: str, secret: str, rate: float, **kw: float) -> Budget:
        return cls(provider, credential_key(secret), rate, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Permit:
    """A call the budget allowed; `probe` when the credential's circuit saw failures."""

    budget: Budget
    probe: bool


class Budgets(Protocol):
    """Pacing and breaking per credential: SharedBudgets (every replica), LocalBudgets (one
    process: unit tests and one-off commands)."""

    async def acquire(self, budget: Budget, *, max_wait: float | None = None) -> Permit: ...

    async def limited(self, budget: Budget, retry_after: float | None) -> None: ...

    async def done(self, permit: Permit, *, ok: bool) -> None: ...


def _granted(budget: Budget) -> None:
    """Count a call the budget let through, next to what the budget allows (for alerts on
    budget use; the label is the credential's hash)."""
    BUDGET_CALLS.labels(budget.provider, budget.credential).inc()
    BUDGET_CALLS_PER_SECOND.labels(budget.provider, budget.credential).set(
        budget.rate / budget.period
    )


def _exhausted(budget: Budget, wait: float) -> WaitError:
    return WaitError(
        f"{budget.provider}.budget_exhausted",
        f"this credential's {budget.provider} budget ({budget.rate:g} calls per "
        f"{budget.period:g} s) is spoken for the next {wait:.0f} s; waiting",
        retry_after=wait,
    )


class SharedBudgets:
    """`permit = await budgets.acquire(budget)` before each call (waits up to `max_wait` for
    its slot, else raises WaitError: redelivered later, never an attempt), then
    `await budgets.done(permit, ok=...)`; `await budgets.limited(budget, retry_after)` on a
    429 holds every replica back until the Retry-After passes."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_wait: float = 20.0,
        breaker_threshold: int = 5,
        breaker_reset: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.breaker_threshold = breaker_threshold
        self.breaker_reset = breaker_reset
        self.sleep = sleep

    async def acquire(self, budget: Budget, *, max_wait: float | None = None) -> Permit:
        """A permit for one call, after waiting for its slot. `max_wait` (default: the
        budget's) bounds that wait; 0 is the low-priority lane: only a slot free now, so the
        call never queues ahead of calls that wait for theirs."""
        limit = self.max_wait if max_wait is None else max_wait
        while True:
            row = await self.pool.fetchrow(
                "SELECT * FROM figsync_budget_acquire($1, $2, $3, $4, $5)",
                budget.key, budget.interval, budget.burst, limit, self.breaker_reset,
            )  # fmt: skip
            permit = await self._permit(budget, row)
            if permit is not None:
                _granted(budget)
                return permit

    async def _permit(self, budget: Budget, row: asyncpg.Record) -> Permit | None:
        """The permit, after its wait; None when a 429 came during the wait (its slot is
        void: take a new one behind the Retry-After)."""
        wait = float(row["wait_s"])
        if row["circuit_open"]:
            CIRCUIT_OPEN.labels(budget.provider).inc()
            raise CircuitOpen(
                f"{budget.provider}.circuit_open",
                f"{budget.provider} failed {self.breaker_threshold} times in a row for this "
                "credential; every replica pauses its calls",
                retry_after=wait,
            )
        if row["refused"]:
            raise _exhausted(budget, wait)
        if wait > 0:
            await self.sleep(wait)
            voided = await self.pool.fetchval(
                "SELECT limited_at > $2 FROM rate_budgets WHERE key = $1",
                budget.key, row["taken_at"],
            )  # fmt: skip
            if voided:
                return None
        return Permit(budget, bool(row["probe"]))

    async def limited(self, budget: Budget, retry_after: float | None) -> None:
        """The API answered 429: nobody calls with this credential until `retry_after` (or one
        interval) has passed."""
        pause = max(retry_after or 0.0, budget.interval)
        await self.pool.execute(
            """UPDATE rate_budgets SET limited = limited + 1, limited_at = clock_timestamp(),
                   tat = greatest(tat, clock_timestamp() + make_interval(secs => $2::float8 + $3::float8))
               WHERE key = $1""",
            budget.key, pause, budget.interval * max(budget.burst - 1, 0),
        )  # fmt: skip

    async def done(self, permit: Permit, *, ok: bool) -> None:
        """Record the call's outcome for the breaker (a failure: timeout, 5xx)."""
        if ok and permit.probe:
            await self.pool.execute(
                "UPDATE rate_budgets SET failures = 0, open_until = NULL WHERE key = $1",
                permit.budget.key,
            )
        elif not ok:
            await self.pool.execute(
                """UPDATE rate_budgets SET failures = failures + 1,
                       open_until = CASE WHEN failures + 1 >= $2
                                         THEN clock_timestamp() + make_interval(secs => $3)
                                         ELSE open_until END
                   WHERE key = $1""",
                permit.budget.key, self.breaker_threshold, self.breaker_reset,
            )  # fmt: skip

    async def usage(self, budget: Budget) -> dict[str, Any]:
        """What the budget has seen, as of now: calls in the last full minute and in this one,
        calls granted and 429s seen (with the last one's time), and the breaker's state. The
        row's minute window moves on only when a call takes from it, so it is moved on here
        the way figsync_budget_acquire would."""
        row = await self.pool.fetchrow(
            """SELECT CASE WHEN age < 60 THEN last_window WHEN age < 120 THEN window_calls
                           ELSE 0 END AS last_minute,
                      CASE WHEN age < 60 THEN window_calls ELSE 0 END AS this_minute,
                      granted, limited, limited_at, failures,
                      coalesce(open_until > now_ts, false) AS open,
                      open_until IS NOT NULL AND open_until <= now_ts AS half_open,
                      greatest(0, extract(epoch FROM open_until - now_ts))::float8 AS open_for
               FROM (SELECT b.*, c.now_ts, extract(epoch FROM c.now_ts - b.window_start) AS age
                     FROM rate_budgets b, (SELECT clock_timestamp() AS now_ts) c
                     WHERE b.key = $1) AS current""",
            budget.key,
        )
        if row is None:
            return {"last_minute": 0, "this_minute": 0, "granted": 0, "limited": 0,
                    "limited_at": None, "failures": 0, "open": False, "half_open": False,
                    "open_for": 0.0}  # fmt: skip
        return dict(row)


@dataclass
class LocalBudgets:
    """The same contract kept in this process only: right for one process, wrong for two
    (each would spend the whole budget). Services use SharedBudgets."""

    max_wait: float = 20.0
    breaker_threshold: int = 5
    breaker_reset: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _tat: dict[str, float] = field(default_factory=dict)
    _limited_at: dict[str, float] = field(default_factory=dict)
    _breakers: dict[str, CircuitBreakers] = field(default_factory=dict)

    def _breaker(self, provider: str) -> CircuitBreakers:
        if provider not in self._breakers:
            self._breakers[provider] = CircuitBreakers(
                provider, self.breaker_threshold, self.breaker_reset, clock=self.clock
            )
        return self._breakers[provider]

    async def acquire(self, budget: Budget, *, max_wait: float | None = None) -> Permit:
        limit = self.max_wait if max_wait is None else max_wait
        while True:
            try:
                self._breaker(budget.provider).check(budget.credential)
            except CircuitOpen:
                CIRCUIT_OPEN.labels(budget.provider).inc()
                raise
            now = self.clock()
            tat = max(self._tat.get(budget.key, now), now)
            wait = max(0.0, tat - budget.interval * max(budget.burst - 1, 0) - now)
            if wait > limit:
                raise _exhausted(budget, wait)
            self._tat[budget.key] = tat + budget.interval
            if wait > 0:
                await self.sleep(wait)
                if self._limited_at.get(budget.key, float("-inf")) > now:
                    continue  # a 429 came while this call waited: its slot is void
            _granted(budget)
            return Permit(budget, probe=True)

    async def limited(self, budget: Budget, retry_after: float | None) -> None:
        pause = max(retry_after or 0.0, budget.interval)
        tolerance = budget.interval * max(budget.burst - 1, 0)
        now = self.clock()
        self._limited_at[budget.key] = now
        self._tat[budget.key] = max(self._tat.get(budget.key, now), now + pause + tolerance)

    async def done(self, permit: Permit, *, ok: bool) -> None:
        breaker = self._breaker(permit.budget.provider)
        if ok:
            breaker.success(permit.budget.credential)
        else:
            breaker.failure(permit.budget.credential)
