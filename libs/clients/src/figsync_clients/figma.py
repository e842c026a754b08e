"""The Figma REST client: comments read and posted, paced per token, with stable error codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator

from figsync_clients.resilience import CircuitBreakers, Pacers, credential_key, parse_retry_after
from figsync_runtime.errors import PermanentError, RetryableError
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


class FigmaClient:
    """Figma's REST API for one deployment; the token is passed per call (teams differ)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str = FIGMA_API_URL,
        *,
        requests_per_minute: float = 50,
        breakers: CircuitBreakers | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.pacers = Pacers(requests_per_minute, 60.0)
        self.breakers = breakers or CircuitBreakers("figma")

    async def comments(
        self, token: str, file_key: str, *, as_md: bool = False
    ) -> list[FigmaComment]:
        """Every comment of a file (the API returns them all in one response)."""
        params = {"as_md": "true"} if as_md else None
        body = await self._call("GET", f"/v1/files/{file_key}/comments", token, params=params)
        return [FigmaComment.model_validate(c) for c in body.get("comments", [])]

    async def post_comment(
        self, token: str, file_key: str, message: str, *, reply_to: str | None = None
    ) -> FigmaComment:
        """Post a comment, or a reply when `reply_to` is a root comment's id."""
        payload: dict[str, Any] = {"message": message}
        if reply_to:
            payload["comment_id"] = reply_to
        body = await self._call("POST", f"/v1/files/{file_key}/comments", token, json=payload)
        return FigmaComment.model_validate(body)

    async def me(self, token: str) -> FigmaUser:
        return FigmaUser.model_validate(await self._call("GET", "/v1/me", token))

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        if not token:
            raise PermanentError("figma.unauthorized", "no Figma token is configured for this team")
        key = credential_key(token)
        self.breakers.check(key)
        await self.pacers.wait(key)
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
                self._record(key, "timeout", failed=True)
                raise RetryableError(
                    "figma.timeout", f"Figma did not answer in time: {error!r}"
                ) from error
            except httpx.TransportError as error:
                self._record(key, "unreachable", failed=True)
                raise RetryableError(
                    "figma.unreachable", f"Figma could not be reached: {error!r}"
                ) from error
        return self._result(response, key, path)

    def _record(self, key: str, outcome: str, *, failed: bool = False) -> None:
        EXTERNAL_CALLS.labels("figma", outcome).inc()
        if failed:
            self.breakers.failure(key)
        else:
            self.breakers.success(key)

    def _result(self, response: httpx.Response, key: str, path: str) -> dict[str, Any]:
        status = response.status_code
        if status < 400:
            self._record(key, "ok")
            try:
                return response.json()
            except ValueError as error:
                raise RetryableError(
                    "figma.bad_response", "Figma answered with invalid JSON"
                ) from error
        detail = _error_text(response)
        if status == 429:
            self._record(key, "rate_limited")
            raise RetryableError(
                "figma.rate_limited",
                f"Figma rate limit reached ({response.headers.get('X-Figma-Rate-Limit-Type', 'unknown')} tier)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                context={"limit_type": response.headers.get("X-Figma-Rate-Limit-Type")},
            )
        if status >= 500:
            self._record(key, "server_error", failed=True)
            raise RetryableError("figma.unavailable", f"Figma answered {status}: {detail}")
        self._record(key, "client_error")
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
