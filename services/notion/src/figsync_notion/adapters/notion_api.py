"""Notion's API through `notion-client`, paced and guarded per integration token.

notion-client retries 429s (also for POST) and GET 5xx on its own; that is switched off here so
that one place decides: calls are paced against the token's budget shared by every replica,
a 429's Retry-After holds every caller with that token back and is waited out in the call
while the attempt's wait allowance lasts; otherwise the step is redelivered (waiting, not an
attempt). 5xx, 529 and timeouts are never retried in the call — a create that may have happened
is only tried again after the step has looked for its page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import notion_client
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from opentelemetry import trace

from figsync_clients.budget import Budget, Budgets, LocalBudgets, Permit
from figsync_clients.cache import SharedCache
from figsync_clients.resilience import credential_key, parse_retry_after
from figsync_notion.mapping import Person
from figsync_notion.ports import NotionRefused
from figsync_runtime import RetryableError, WaitError
from figsync_runtime.metrics import EXTERNAL_CALLS

NOTION_API_URL = "https://api.notion.com"
NOTION_VERSION = "2025-09-03"
RETRYABLE_STATUSES = frozenset({409, 500, 502, 503, 504, 529})

tracer = trace.get_tracer("figsync.notion_client")


class NotionApi:
    """The NotionPages port over notion-client's AsyncClient (one client, token per call)."""

    def __init__(
        self,
        base_url: str = NOTION_API_URL,
        *,
        requests_per_second: float = 3.0,
        burst: int = 3,
        timeout_seconds: float = 20.0,
        wait_budget_seconds: float = 20.0,
        budgets: Budgets | None = None,
        http: httpx.AsyncClient | None = None,
        cache: SharedCache | None = None,
        users_ttl_seconds: float = 300.0,
    ) -> None:
        self.client = notion_client.AsyncClient(
            client=http,
            base_url=base_url.rstrip("/"),
            notion_version=NOTION_VERSION,
            timeout_ms=int(timeout_seconds * 1000),
            retry=False,
            logger=logging.getLogger("figsync.notion.sdk"),
            log_level=logging.ERROR,
        )
        self.rate = requests_per_second
        self.burst = burst
        self.budgets: Budgets = budgets or LocalBudgets()
        self.wait_budget = wait_budget_seconds
        # The workspace's users, shared by every replica for users_ttl seconds (without a
        # cache, each call reads them afresh).
        self.cache = cache
        self.users_ttl = users_ttl_seconds

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- the port ----------------------------------------------------------------------------

    async def me(self, token: str) -> dict[str, Any]:
        return await self._call(token, "users.me", lambda: self.client.users.me(auth=token))

    async def database(self, token: str, database_id: str) -> dict[str, Any]:
        return await self._call(
            token,
            "databases.retrieve",
            lambda: self.client.databases.retrieve(database_id=database_id, auth=token),
        )

    async def data_source(self, token: str, data_source_id: str) -> dict[str, Any]:
        return await self._call(
            token,
            "data_sources.retrieve",
            lambda: self.client.data_sources.retrieve(data_source_id=data_source_id, auth=token),
        )

    async def add_property(
        self, token: str, data_source_id: str, name: str, definition: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            token,
            "data_sources.update",
            lambda: self.client.data_sources.update(
                data_source_id=data_source_id, properties={name: definition}, auth=token
            ),
        )

    async def find_pages(
        self, token: str, data_source_id: str, prop: str, value: str
    ) -> list[dict[str, Any]]:
        answer = await self._call(
            token,
            "data_sources.query",
            lambda: self.client.data_sources.query(
                data_source_id=data_source_id,
                filter={"property": prop, "rich_text": {"equals": value}},
                page_size=10,
                auth=token,
            ),
        )
        return list(answer.get("results", []))

    async def create_page(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            token, "pages.create", lambda: self.client.pages.create(**body, auth=token)
        )

    async def append_children(
        self, token: str, block_id: str, children: list[dict[str, Any]]
    ) -> None:
        await self._call(
            token,
            "blocks.children.append",
            lambda: self.client.blocks.children.append(
                block_id=block_id, children=children, auth=token
            ),
        )

    async def count_children(self, token: str, block_id: str) -> int:
        return len(await self.children(token, block_id))

    async def page(self, token: str, page_id: str) -> dict[str, Any]:
        return await self._call(
            token, "pages.retrieve", lambda: self.client.pages.retrieve(page_id=page_id, auth=token)
        )

    async def update_page(
        self, token: str, page_id: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._call(
            token,
            "pages.update",
            lambda: self.client.pages.update(page_id=page_id, properties=properties, auth=token),
        )

    async def children(self, token: str, block_id: str) -> list[dict[str, Any]]:
        return await self._every(
            token, "blocks.children.list", self.client.blocks.children.list, block_id=block_id
        )

    async def edited_since(
        self, token: str, data_source_id: str, prop: str, since: datetime
    ) -> list[dict[str, Any]]:
        """Pages carrying a sync id edited on or after `since`, every page of the answer."""
        flt = {
            "and": [
                {"property": prop, "rich_text": {"is_not_empty": True}},
                {"timestamp": "last_edited_time",
                 "last_edited_time": {"on_or_after": since.isoformat()}},
            ]
        }  # fmt: skip
        return await self._every(
            token, "data_sources.query", self.client.data_sources.query,
            data_source_id=data_source_id, filter=flt,
        )  # fmt: skip

    async def _every(
        self, token: str, what: str, call: Callable[..., Awaitable[Any]], **params: Any
    ) -> list[dict[str, Any]]:
        """Every result of a paginated list, page after page."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            kwargs: dict[str, Any] = {**params, "page_size": 100, "auth": token}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = await self._call(token, what, lambda kwargs=kwargs: call(**kwargs))
            found += answer.get("results", [])
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return found

    async def users(self, token: str) -> list[Person]:
        """The workspace's people (not bots), every page of GET /v1/users."""

        async def load() -> list[dict[str, Any]]:
            everyone = await self._every(token, "users.list", self.client.users.list)
            return [u for u in everyone if Person.from_api(u) is not None]

        if self.cache is None:
            listed = await load()
        else:
            key = f"notion-users:{credential_key(token)}"
            listed = await self.cache.fetch(key, self.users_ttl, load)
        return [p for p in map(Person.from_api, listed) if p is not None]

    # -- pacing, Retry-After, circuit breaker ------------------------------------------------

    async def _call(self, token: str, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        budget = Budget.for_secret("notion", token, self.rate, period=1.0, burst=self.burst)
        deadline = time.monotonic() + self.wait_budget
        while True:
            permit = await self.budgets.acquire(budget)
            with tracer.start_as_current_span(
                f"notion {what}",
                kind=trace.SpanKind.CLIENT,
                attributes={"server.address": str(self.client.client.base_url)},
            ):
                try:
                    answer = await send()
                except RequestTimeoutError as error:
                    await self._outcome(permit, "timeout", ok=False)
                    raise RetryableError(
                        "notion.timeout", f"Notion did not answer {what} in time"
                    ) from error
                except httpx.TransportError as error:
                    await self._outcome(permit, "unreachable", ok=False)
                    raise RetryableError(
                        "notion.unreachable", f"Notion could not be reached: {error!r}"
                    ) from error
                except HTTPResponseError as error:
                    retry_after = parse_retry_after(error.headers.get("retry-after"))
                    if error.status != 429:
                        raise await self._refused(permit, what, error, retry_after) from error
                    EXTERNAL_CALLS.labels("notion", "rate_limited").inc()
                    wait = retry_after if retry_after is not None else 1.0
                    await self.budgets.limited(budget, wait)
                    if time.monotonic() + wait > deadline:
                        raise WaitError(
                            "notion.rate_limited",
                            f"Notion rate limit reached on {what}; trying again in {wait:.0f}s",
                            retry_after=wait,
                        ) from error
                    continue  # the next acquire waits the Retry-After out
            await self._outcome(permit, "ok", ok=True)
            return answer

    async def _outcome(self, permit: Permit, outcome: str, *, ok: bool) -> None:
        EXTERNAL_CALLS.labels("notion", outcome).inc()
        await self.budgets.done(permit, ok=ok)

    async def _refused(
        self, permit: Permit, what: str, error: HTTPResponseError, retry_after: float | None
    ) -> Exception:
        code, message = _code_and_message(error)
        if error.status in RETRYABLE_STATUSES or error.status >= 500:
            await self._outcome(permit, "server_error", ok=False)
            name = "notion.overloaded" if error.status == 529 else "notion.unavailable"
            return RetryableError(
                name,
                f"Notion answered {what} with {error.status} {code}: {message}",
                retry_after=retry_after,
            )
        await self._outcome(permit, "client_error", ok=True)  # Notion is up; the request was wrong
        return NotionRefused(error.status, code, message)


def _code_and_message(error: HTTPResponseError) -> tuple[str, str]:
    # notion-client knows only some codes (not 529's service_overload): read the body too.
    code, message = str(getattr(error.code, "value", error.code)), str(error)
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        return code, message
    if isinstance(body, dict):
        code = str(body.get("code") or code)
        message = str(body.get("message") or message)
    return code, message
