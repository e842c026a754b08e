"""Notion's API through `notion-client`, paced and guarded per integration token.

notion-client retries 429s (also for POST) and GET 5xx on its own; that is switched off here so
that one place decides: a 429's Retry-After is waited out in the call while the attempt's budget
allows (every caller with that token waits too), otherwise the step is redelivered by the
runtime. 5xx, 529 and timeouts are never retried in the call — a create that may have happened
is only tried again after the step has looked for its page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import notion_client
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from opentelemetry import trace

from figsync_clients.resilience import CircuitBreakers, Pacers, credential_key, parse_retry_after
from figsync_notion.mapping import Person
from figsync_notion.ports import NotionRefused
from figsync_runtime import RetryableError
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
        timeout_seconds: float = 20.0,
        wait_budget_seconds: float = 20.0,
        breakers: CircuitBreakers | None = None,
        http: httpx.AsyncClient | None = None,
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
        self.pacers = Pacers(requests_per_second, 1.0)
        self.breakers = breakers or CircuitBreakers("notion")
        self.wait_budget = wait_budget_seconds
        self._cool_until: dict[str, float] = {}
        self._users: dict[str, tuple[float, list[Person]]] = {}

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
        count, cursor = 0, None
        while True:
            kwargs: dict[str, Any] = {"block_id": block_id, "page_size": 100, "auth": token}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = await self._call(
                token,
                "blocks.children.list",
                lambda kwargs=kwargs: self.client.blocks.children.list(**kwargs),
            )
            count += len(answer.get("results", []))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return count

    async def users(self, token: str) -> list[Person]:
        key = credential_key(token)
        cached = self._users.get(key)
        if cached and time.monotonic() - cached[0] < 300:
            return cached[1]
        people: list[Person] = []
        cursor = None
        while True:
            kwargs: dict[str, Any] = {"page_size": 100, "auth": token}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = await self._call(
                token, "users.list", lambda kwargs=kwargs: self.client.users.list(**kwargs)
            )
            for user in answer.get("results", []):
                if user.get("type") == "person":
                    email = (user.get("person") or {}).get("email") or ""
                    people.append(Person(user["id"], user.get("name") or "", email))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
        self._users[key] = (time.monotonic(), people)
        return people

    # -- pacing, Retry-After, circuit breaker ------------------------------------------------

    async def _call(self, token: str, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        key = credential_key(token)
        deadline = time.monotonic() + self.wait_budget
        while True:
            self.breakers.check(key)
            await self.pacers.wait(key)
            await self._cool_down(key)
            with tracer.start_as_current_span(
                f"notion {what}",  # the httpx instrumentation adds the CLIENT span inside
                kind=trace.SpanKind.INTERNAL,
                attributes={"server.address": str(self.client.client.base_url)},
            ):
                try:
                    return self._ok(key, await send())
                except RequestTimeoutError as error:
                    self._failed(key, "timeout")
                    raise RetryableError(
                        "notion.timeout", f"Notion did not answer {what} in time"
                    ) from error
                except httpx.TransportError as error:
                    self._failed(key, "unreachable")
                    raise RetryableError(
                        "notion.unreachable", f"Notion could not be reached: {error!r}"
                    ) from error
                except HTTPResponseError as error:
                    retry_after = parse_retry_after(error.headers.get("retry-after"))
                    if error.status != 429:
                        raise self._refused(key, what, error, retry_after) from error
                    EXTERNAL_CALLS.labels("notion", "rate_limited").inc()
                    wait = retry_after if retry_after is not None else 1.0
                    self._cool_until[key] = max(
                        self._cool_until.get(key, 0.0), time.monotonic() + wait
                    )
                    if time.monotonic() + wait > deadline:
                        raise RetryableError(
                            "notion.rate_limited",
                            f"Notion rate limit reached on {what}; trying again in {wait:.0f}s",
                            retry_after=wait,
                        ) from error

    def _ok(self, key: str, answer: Any) -> Any:
        EXTERNAL_CALLS.labels("notion", "ok").inc()
        self.breakers.success(key)
        return answer

    def _failed(self, key: str, outcome: str) -> None:
        EXTERNAL_CALLS.labels("notion", outcome).inc()
        self.breakers.failure(key)

    def _refused(
        self, key: str, what: str, error: HTTPResponseError, retry_after: float | None
    ) -> Exception:
        code, message = _code_and_message(error)
        if error.status in RETRYABLE_STATUSES or error.status >= 500:
            self._failed(key, "server_error")
            name = "notion.overloaded" if error.status == 529 else "notion.unavailable"
            return RetryableError(
                name,
                f"Notion answered {what} with {error.status} {code}: {message}",
                retry_after=retry_after,
            )
        EXTERNAL_CALLS.labels("notion", "client_error").inc()
        self.breakers.success(key)  # Notion is up; the request was wrong
        return NotionRefused(error.status, code, message)

    async def _cool_down(self, key: str) -> None:
        # After a 429 every call with the token waits out its Retry-After (also one that was
        # already waiting for its turn when the 429 came).
        while (wait := self._cool_until.get(key, 0.0) - time.monotonic()) > 0:
            await asyncio.sleep(wait)


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
