"""What the three servers share: request log, fault middleware and the /_sandbox control API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from figsync_sandbox.faults import FaultInjector, FaultRule

CONTROL_PREFIX = "/_sandbox"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-figma-token", "cookie"})
MAX_LOGGED_REQUESTS = 10_000


@dataclass
class RequestRecord:
    """One request the sandbox saw, as tests inspect it."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    time: float
    status: int | None = None
    fault: str | None = None
    duration_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact(name: str, value: str) -> str:
    """Keep only the last four characters of a credential header."""
    if name.lower() not in SECRET_HEADERS:
        return value
    return "***" + value[-4:] if len(value) > 8 else "***"


def parse_body(raw: bytes) -> Any:
    """The body as JSON if it is JSON, else as text (truncated), else None."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:2000].decode("utf-8", "replace")


class ServerState:
    """Base for the state of one sandbox server: its faults, its request log, its lock."""

    name = "sandbox"
    max_body_bytes = 5_000_000

    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.faults = FaultInjector(seed)
        self._requests: list[RequestRecord] = []
        self._seq = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- overridden per API -------------------------------------------------------------
    def error_response(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> Response:
        """An error in this API's own shape."""
        raise NotImplementedError

    def unknown_route(self, status: int) -> Response:
        """The answer to a path or method the API does not have (404/405 by default)."""
        return self.error_response(status)

    def reset_data(self) -> None:
        """Restore the seeded default data."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """Everything tests may want to inspect, as JSON-ready data."""
        return {}

    # -- shared ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Restore default data and settings, drop faults and forget all requests."""
        with self.lock:
            self.faults.reset(seed)
            self._requests.clear()
            self._seq = 0
            self.reset_data()

    def record(self, request: Request, raw_body: bytes) -> RequestRecord:
        with self.lock:
            self._seq += 1
            rec = RequestRecord(
                seq=self._seq,
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={k: redact(k, v) for k, v in request.headers.items()},
                body=parse_body(raw_body),
                time=time.time(),
            )
            self._requests.append(rec)
            del self._requests[:-MAX_LOGGED_REQUESTS]
            return rec

    def requests(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Requests seen since the last reset, oldest first, optionally filtered."""
        with self.lock:
            return [
                r
                for r in self._requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
            ]

    def clear_requests(self) -> None:
        """Forget the requests seen so far."""
        with self.lock:
            self._requests.clear()


def _fault_label(rule: FaultRule) -> str:
    return "timeout" if rule.timeout else f"status:{rule.status}"


def install(app: FastAPI, state: ServerState) -> None:
    """Add the fault middleware, API-shaped 404/405 answers and the control routes."""

    @app.middleware("http")
    async def sandbox_middleware(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path.startswith(CONTROL_PREFIX):
            return await call_next(request)
        started = time.perf_counter()
        raw = await request.body()
        rec = state.record(request, raw)
        decision = state.faults.decide(request.method, path)
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        rule = decision.rule
        if rule is not None and rule.timeout:
            await asyncio.sleep(rule.hang_seconds)
            response = state.error_response(504, rule.code, rule.message, rule.retry_after)
        elif rule is not None and rule.status is not None:
            response = state.error_response(rule.status, rule.code, rule.message, rule.retry_after)
        elif len(raw) > state.max_body_bytes:
            response = state.error_response(
                413, None, f"Request body is {len(raw)} bytes; the limit is {state.max_body_bytes}."
            )
        else:
            response = await call_next(request)
        rec.status = response.status_code
        rec.fault = _fault_label(rule) if rule is not None else None
        rec.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return state.unknown_route(exc.status_code)

    @app.get(f"{CONTROL_PREFIX}/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "server": state.name}

    @app.get(f"{CONTROL_PREFIX}/requests")
    async def list_requests(method: str | None = None, path: str | None = None) -> dict[str, Any]:
        return {"requests": [r.to_dict() for r in state.requests(method, path)]}

    @app.delete(f"{CONTROL_PREFIX}/requests")
    async def clear_requests() -> dict[str, Any]:
        state.clear_requests()
        return {"ok": True}

    @app.get(f"{CONTROL_PREFIX}/faults")
    async def list_faults() -> dict[str, Any]:
        return {
            "seed": state.faults.seed,
            "rules": [r.to_dict() for r in state.faults.rules],
            "history": list(state.faults.history),
        }

    @app.post(f"{CONTROL_PREFIX}/faults")
    async def set_faults(request: Request) -> Response:
        body = await control_json(request)
        if isinstance(body, Response):
            return body
        try:
            rules = [FaultRule.from_dict(r) for r in body.get("rules", [])]
            seed = body.get("seed")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise ValueError("faults.bad_seed: seed must be an integer")
        except ValueError as exc:
            return control_error(400, str(exc))
        if body.get("replace", True):
            state.faults.clear()
        if seed is not None:
            state.faults.set_seed(seed)
        for rule in rules:
            state.faults.add(rule)
        return JSONResponse({"seed": state.faults.seed, "rules": [r.to_dict() for r in rules]})

    @app.delete(f"{CONTROL_PREFIX}/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"ok": True}

    @app.post(f"{CONTROL_PREFIX}/reset")
    async def reset(request: Request) -> Response:
        body = await control_json(request, allow_empty=True)
        if isinstance(body, Response):
            return body
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            return control_error(400, "control.bad_seed: seed must be an integer")
        state.reset(seed)
        return JSONResponse({"ok": True})

    @app.get(f"{CONTROL_PREFIX}/state")
    async def snapshot() -> dict[str, Any]:
        return state.snapshot()


def control_error(status: int, message: str) -> JSONResponse:
    """Errors of the control API itself: {"error": "<code>: <what to do>"}."""
    return JSONResponse({"error": message}, status_code=status)


async def control_json(request: Request, *, allow_empty: bool = False) -> dict[str, Any] | Response:
    """Parse a control request body as a JSON object, or answer 400 naming the problem."""
    raw = await request.body()
    if not raw and allow_empty:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return control_error(400, "control.invalid_json: the body must be a JSON object")
    if not isinstance(body, dict):
        return control_error(400, "control.invalid_json: the body must be a JSON object")
    return body


@dataclass
class RateWindow:
    """A fixed-window counter per key (Figma's per-minute budgets)."""

    limit: int
    window_seconds: float = 60.0
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count one request; return seconds to wait if over budget, else None."""
        now = time.monotonic() if now is None else now
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_seconds:
            start, count = now, 0
        if count >= self.limit:
            return max(0.0, self.window_seconds - (now - start))
        self._windows[key] = (start, count + 1)
        return None

    def clear(self) -> None:
        self._windows.clear()


@dataclass
class TokenBucket:
    """An average rate with bursts (Notion's ~3 requests/second per integration)."""

    rate: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Take one token; return seconds until one is available if empty, else None."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        return None

    def clear(self) -> None:
        self._buckets.clear()
