"""The Figma REST client: comments read and posted, paced per token, with stable error codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator

from figsync_clients.budget import Budget, Budgets, LocalBudgets, Permit
from figsync_clients.cache import SharedCache
from figsync_clients.resilience import credential_key, parse_retry_after
from figsync_runtime.errors import PermanentError, RetryableError, WaitError
from figsync_runtime.metrics import EXTERNAL_CALLS

FIGMA_API_URL = "https://api.figma.com"
tracer = trace.get_tracer("figsync.figma_client")


class FigmaUser(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    handle: str = ""
    img_url: str = ""


class FigmaReaction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    user: FigmaUser
    emoji: str
    created_at: datetime | None = None


class FigmaComment(BaseModel):
    """A comment as Figma's API returns it (fields the spec marks optional may be absent)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    file_key: str = ""
    parent_id: str | None = None
    user: FigmaUser = Field(default_factory=FigmaUser)
    created_at: datetime
    resolved_at: datetime | None = None
    message: str = ""
    order_id: str | None = None
    reactions: list[FigmaReaction] = Field(default_factory=list)

    @field_validator("parent_id", "resolved_at", "order_id", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def is_root(self) -> bool:
        return not self.parent_id


# Figma's published REST limits for the comment endpoints (Tier 2, per token, per minute; in
# effect since 2025-11-17): by plan for Dev and Full seats, 5 for View and Collab seats on
# any plan.
TIER2_PER_MINUTE = {"starter": 5, "professional": 25, "organization": 50, "enterprise": 100}
# The share of the limit figsync paces at: room for network jitter between replicas, so the
# API's own window never sees one call too many.
PACE = 0.95
# A reaction waits at most this long for a budget slot (the low-priority lane): on a fast
# budget that is a queue of calls, on a Starter plan's (one per 12 s) only a slot about free.
REACTION_MAX_WAIT = 1.0


def comment_url(file_key: str, comment_id: str) -> str:
    """The link that opens a comment in Figma."""
    return f"https://www.figma.com/design/{file_key}?comment={comment_id}#{comment_id}"


def tier2_per_minute(plan: str, seat: str) -> int:
    """Figma's Tier-2 requests per minute for a token of this plan and seat."""
    return 5 if seat in ("view", "collab") else TIER2_PER_MINUTE[plan]


def team_per_minute(team: Any) -> float:
    """A team's Figma budget per minute: its explicit figure, else its plan and seat's."""
    return team.figma_requests_per_minute or tier2_per_minute(team.figma_plan, team.figma_seat)


class FigmaClient:
    """Figma's REST API for one deployment; the token is passed per call (teams differ), and
    every call draws on that token's budget, shared by all replicas when `budgets` is."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str = FIGMA_API_URL,
        *,
        budgets: Budgets | None = None,
        cache: SharedCache | None = None,
        requests_per_minute: float = TIER2_PER_MINUTE["professional"],
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.budgets: Budgets = budgets or LocalBudgets()
        self.cache = cache
        self.per_minute = requests_per_minute

    async def comments(
        self,
        token: str,
        file_key: str,
        *,
        per_minute: float | None = None,
        max_age: float = 0.0,
        as_md: bool = False,
    ) -> list[FigmaComment]:
        """Every comment of a file (one response). With a shared cache and `max_age`, a read
        younger than that is reused, and replicas wanting the same file share one call."""
        params = {"as_md": "true"} if as_md else None

        async def load() -> list[dict[str, Any]]:
            body = await self._call(
                "GET", f"/v1/files/{file_key}/comments", token, per_minute, params=params
            )
            return list(body.get("comments", []))

        if self.cache is None:
            raw = await load()
        else:
            key = f"figma-comments:{credential_key(token)}:{file_key}:{int(as_md)}"
            raw = await self.cache.fetch(key, max_age, load)
        return [FigmaComment.model_validate(c) for c in raw]

    async def post_comment(
        self,
        token: str,
        file_key: str,
        message: str,
        *,
        reply_to: str | None = None,
        per_minute: float | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> FigmaComment:
        """Post a comment, or a reply when `reply_to` is a root comment's id. `before_send`
        runs once the budget allowed the call, right before it goes out (record an intent
        there: a wait for the budget then leaves none behind to look up on the retry)."""
        payload: dict[str, Any] = {"message": message}
        if reply_to:
            payload["comment_id"] = reply_to
        body = await self._call(
            "POST", f"/v1/files/{file_key}/comments", token, per_minute, json=payload,
            before_send=before_send,
        )  # fmt: skip
        return FigmaComment.model_validate(body)

    async def reactions(
        self, token: str, file_key: str, comment_id: str, *, per_minute: float | None = None
    ) -> list[FigmaReaction]:
        """Every reaction left on a comment (all pages)."""
        found: list[FigmaReaction] = []
        cursor: str | None = None
        path = f"/v1/files/{file_key}/comments/{comment_id}/reactions"
        for _ in range(50):
            params = {"cursor": cursor} if cursor else None
            body = await self._call("GET", path, token, per_minute, params=params)
            found += [FigmaReaction.model_validate(r) for r in body.get("reactions", [])]
            # `next_page` is the URL of the next page; its cursor is what to send.
            following = (body.get("pagination") or {}).get("next_page")
            cursor = httpx.URL(following).params.get("cursor") if following else None
            if not cursor:
                break
        return found

    async def react(
        self,
        token: str,
        file_key: str,
        comment_id: str,
        emoji: str,
        *,
        remove: bool = False,
        per_minute: float | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Leave (or take back) a reaction on a comment. Reactions are the budget's low-priority
        lane: one goes only in a slot free within REACTION_MAX_WAIT (else WaitError, to try
        again later), so on a small plan they never queue ahead of the reads and replies that
        jobs wait for."""
        path = f"/v1/files/{file_key}/comments/{comment_id}/reactions"
        if remove:
            await self._call("DELETE", path, token, per_minute, params={"emoji": emoji},
                             before_send=before_send, max_wait=REACTION_MAX_WAIT)  # fmt: skip
        else:
            await self._call("POST", path, token, per_minute, json={"emoji": emoji},
                             before_send=before_send, max_wait=REACTION_MAX_WAIT)  # fmt: skip

    async def me(self, token: str, *, per_minute: float | None = None) -> FigmaUser:
        """The token's own user (shared for an hour when there is a cache)."""

        async def load() -> dict[str, Any]:
            return await self._call("GET", "/v1/me", token, per_minute)

        if self.cache is None:
            return FigmaUser.model_validate(await load())
        key = f"figma-me:{credential_key(token)}"
        return FigmaUser.model_validate(await self.cache.fetch(key, 3600.0, load))

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        per_minute: float | None,
        before_send: Callable[[], Awaitable[None]] | None = None,
        max_wait: float | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not token:
            raise PermanentError("figma.unauthorized", "no Figma token is configured for this team")
        budget = Budget.for_secret("figma", token, (per_minute or self.per_minute) * PACE)
        permit = await self.budgets.acquire(budget, max_wait=max_wait)
        if before_send is not None:
            await before_send()
        with tracer.start_as_current_span(
            f"figma {method} {path.split('/')[2] if path.count('/') > 1 else path}",
            kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": method, "server.address": self.base_url},
        ):
            try:
                response = await self.http.request(
                    method, self.base_url + path, headers={"X-Figma-Token": token}, **kwargs
                )
            except httpx.TimeoutException as error:
                await self._record(permit, "timeout", ok=False)
                raise RetryableError(
                    "figma.timeout", f"Figma did not answer in time: {error!r}"
                ) from error
            except httpx.TransportError as error:
                await self._record(permit, "unreachable", ok=False)
                raise RetryableError(
                    "figma.unreachable", f"Figma could not be reached: {error!r}"
                ) from error
        return await self._result(response, permit, path)

    async def _record(self, permit: Permit, outcome: str, *, ok: bool) -> None:
        EXTERNAL_CALLS.labels("figma", outcome).inc()
        await self.budgets.done(permit, ok=ok)

    async def _result(self, response: httpx.Response, permit: Permit, path: str) -> dict[str, Any]:
        status = response.status_code
        if status < 400:
            await self._record(permit, "ok", ok=True)
            try:
                return response.json()
            except ValueError as error:
                raise RetryableError(
                    "figma.bad_response", "Figma answered with invalid JSON"
                ) from error
        detail = _error_text(response)
        if status == 429:
            EXTERNAL_CALLS.labels("figma", "rate_limited").inc()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            await self.budgets.limited(permit.budget, retry_after)
            limit_type = response.headers.get("X-Figma-Rate-Limit-Type", "unknown")
            raise WaitError(
                "figma.rate_limited",
                f"Figma rate limit reached ({limit_type} tier); every replica waits "
                f"{retry_after or permit.budget.interval:.0f}s before calling with this token",
                retry_after=retry_after or permit.budget.interval,
                context={"limit_type": limit_type},
            )
        if status >= 500:
            await self._record(permit, "server_error", ok=False)
            raise RetryableError("figma.unavailable", f"Figma answered {status}: {detail}")
        await self._record(permit, "client_error", ok=True)
        if status in (401, 403):
            raise PermanentError(
                "figma.unauthorized",
                f"Figma refused the token ({detail}); set a valid Figma token with access to the file",
            )
        if status == 404:
            raise PermanentError(
                "figma.file_not_found",
                f"Figma has no file or comment at {path} ({detail}); check the file key and that the token can see it",
            )
        raise PermanentError("figma.bad_request", f"Figma answered {status}: {detail}")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("err") or body.get("message") or body)[:300]
    return str(body)[:300]
