"""Retry-After, credential keys and the in-process circuit breaker (LocalBudgets uses it)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from figsync_runtime.errors import RetryableError


def credential_key(secret: str) -> str:
    """A stable, non-reversible name for a credential (never the credential itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class CircuitOpen(RetryableError):
    """The circuit for this credential is open: the API failed repeatedly; try later."""


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None


@dataclass
class CircuitBreakers:
    """A circuit breaker per credential: after `threshold` consecutive failures, calls are
    refused for `reset_after` seconds, then one trial call decides.

    Hand-written (about 30 lines): it needs our clock, our error codes and per-credential
    keys; the async breaker libraries wrap functions, not this call shape."""

    provider: str
    threshold: int = 5
    reset_after: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Raise CircuitOpen if calls with this credential should not be attempted now."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return
        remaining = circuit.opened_at + self.reset_after - self.clock()
        if remaining > 0:
            raise CircuitOpen(
                f"{self.provider}.circuit_open",
                f"{self.provider} failed {circuit.failures} times in a row; pausing calls",
                retry_after=remaining,
            )
        circuit.opened_at = None  # half-open: let one call through; its outcome decides

    def success(self, key: str) -> None:
        self._circuits.pop(key, None)

    def failure(self, key: str) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.failures >= self.threshold:
            circuit.opened_at = self.clock()

    def state(self, key: str) -> str:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.failures < self.threshold:
            return "closed"
        return "open" if circuit.opened_at is not None else "half_open"
