"""Seeded fault injection: latency, error statuses, timeouts and rate-limit answers per route."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

LATENCY_DISTRIBUTIONS = ("fixed", "uniform", "normal", "exponential")


@dataclass(frozen=True)
class Latency:
    """A delay in milliseconds: fixed, or drawn from a uniform, normal or exponential law."""

    distribution: str = "fixed"
    ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    sigma_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(
                f"faults.bad_latency: distribution must be one of {LATENCY_DISTRIBUTIONS}"
            )

    def draw(self, rng: random.Random) -> float:
        """Draw one delay in milliseconds (never negative)."""
        if self.distribution == "uniform":
            value = rng.uniform(self.low_ms, self.high_ms)
        elif self.distribution == "normal":
            value = rng.gauss(self.ms, self.sigma_ms)
        elif self.distribution == "exponential":
            value = rng.expovariate(1.0 / self.ms) if self.ms > 0 else 0.0
        else:
            value = self.ms
        return max(0.0, value)

    @classmethod
    def parse(cls, raw: Any) -> Latency | None:
        """Accept a number (fixed ms) or a mapping like {"distribution": "uniform", ...}."""
        if raw is None:
            return None
        if isinstance(raw, bool):
            raise ValueError("faults.bad_latency: latency must be a number or an object")
        if isinstance(raw, int | float):
            return cls(ms=float(raw))
        if isinstance(raw, dict):
            known = {"distribution", "ms", "low_ms", "high_ms", "sigma_ms"}
            unknown = set(raw) - known
            if unknown:
                raise ValueError(f"faults.bad_latency: unknown keys {sorted(unknown)}")
            return cls(**{k: raw[k] for k in raw})
        raise ValueError("faults.bad_latency: latency must be a number or an object")


@dataclass
class FaultRule:
    """One fault: which requests it matches and what happens to a matched request.

    `route` is "METHOD /path/glob" or "/path/glob" (fnmatch patterns, "*" matches across "/").
    With probability `rate` a matching request gets `latency` added and, if `status` is set,
    that error answer (with `code`, `message`, `retry_after` seconds) instead of the real one;
    `timeout` makes the server hold the request for `hang_seconds` and then answer 504.
    `times` limits how many requests the rule hits (None: unlimited).
    """

    route: str = "*"
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    rate: float = 1.0
    times: int | None = None
    latency: Latency | None = None
    timeout: bool = False
    hang_seconds: float = 30.0
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("faults.bad_rate: rate must be between 0 and 1")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("faults.bad_status: status must be a 4xx or 5xx code")
        if self.times is not None and self.times < 0:
            raise ValueError("faults.bad_times: times must be >= 0")
        method, _, pattern = self.route.partition(" ")
        if not pattern:
            method, pattern = "*", method
        self._method = method.upper()
        self._pattern = pattern

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (ignoring its rate and remaining times)."""
        if self.times is not None and self.hits >= self.times:
            return False
        if self._method not in ("*", method.upper()):
            return False
        return fnmatch.fnmatchcase(path, self._pattern)

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data."""
        data = asdict(self)
        data["latency"] = asdict(self.latency) if self.latency else None
        return data

    @classmethod
    def from_dict(cls, raw: Any) -> FaultRule:
        """Build a rule from JSON data; raises ValueError naming the problem."""
        if not isinstance(raw, dict):
            raise ValueError("faults.bad_rule: each rule must be an object")
        known = {f for f in cls.__dataclass_fields__ if f != "hits"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"faults.bad_rule: unknown keys {sorted(unknown)}")
        data = dict(raw)
        data["latency"] = Latency.parse(data.get("latency"))
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"faults.bad_rule: {exc}") from exc


@dataclass(frozen=True)
class Decision:
    """What the injector decided for one request."""

    delay_ms: float = 0.0
    rule: FaultRule | None = None

    @property
    def is_error(self) -> bool:
        return self.rule is not None and (self.rule.status is not None or self.rule.timeout)


class FaultInjector:
    """Holds the rules for one server and decides, deterministically under a seed, per request.

    Every matching rule consumes random draws in request order, so the same seed and the
    same sequence of requests give the same faults.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.seed = seed
        self._rng = random.Random(seed)
        self.history: list[dict[str, Any]] = []

    def reset(self, seed: int | None = None) -> None:
        """Drop all rules and history and restart the random sequence."""
        with self._lock:
            self._rules.clear()
            self.history.clear()
            if seed is not None:
                self.seed = seed
            self._rng = random.Random(self.seed)

    def set_seed(self, seed: int) -> None:
        """Restart the random sequence from `seed` (rules are kept)."""
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule; rules are consulted in the order they were added."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def inject(
        self,
        route: str = "*",
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        rate: float = 1.0,
        times: int | None = None,
        latency: Latency | float | dict[str, Any] | None = None,
        timeout: bool = False,
        hang_seconds: float = 30.0,
    ) -> FaultRule:
        """Add a rule from keyword arguments (see FaultRule) and return it."""
        if not isinstance(latency, Latency):
            latency = Latency.parse(latency)
        return self.add(
            FaultRule(
                route=route,
                status=status,
                code=code,
                message=message,
                retry_after=retry_after,
                rate=rate,
                times=times,
                latency=latency,
                timeout=timeout,
                hang_seconds=hang_seconds,
            )
        )

    def clear(self) -> None:
        """Remove all rules (the random sequence continues)."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str) -> Decision:
        """Decide the fate of one request; the first matching error rule wins."""
        with self._lock:
            delay = 0.0
            chosen: FaultRule | None = None
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                roll = self._rng.random()
                if roll >= rule.rate:
                    continue
                if rule.latency is not None:
                    delay += rule.latency.draw(self._rng)
                if chosen is None and (rule.status is not None or rule.timeout):
                    chosen = rule
                    rule.hits += 1
                elif rule.status is None and not rule.timeout:
                    rule.hits += 1
            decision = Decision(delay_ms=delay, rule=chosen)
            self.history.append(
                {
                    "method": method,
                    "path": path,
                    "delay_ms": round(delay, 3),
                    "status": (504 if chosen.timeout else chosen.status) if chosen else None,
                }
            )
            return decision
