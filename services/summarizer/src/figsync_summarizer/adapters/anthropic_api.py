"""The Anthropic Messages API through the official SDK: one forced tool call per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anthropic
import structlog
from anthropic import AsyncAnthropic, AsyncAPIResponse

from figsync_clients.resilience import parse_retry_after
from figsync_summarizer.settings import SummarizerSettings
from figsync_summarizer.summary import TOOL_NAME, tool

log = structlog.get_logger("figsync.summarizer.anthropic")

_RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class ModelReply:
    """One call's answer: the forced tool's input (None if there was none) and its usage."""

    tool_input: Any
    stop_reason: str | None
    input_tokens: int
    output_tokens: int
    # Seconds until the key's per-minute requests or tokens refill, when its rate-limit
    # headers say none are left (every replica then waits that long).
    exhausted_for: float | None = None


class ModelUnavailable(Exception):
    """Timeouts, connection failures, 408/409/429/5xx/529 after the SDK's own retries."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.retry_after = code, message, retry_after


class ModelRejected(Exception):
    """The API refused the request (bad key, unknown model, bad request): retrying won't help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _status_code(status: int) -> str:
    if status == 429:
        return "anthropic.rate_limited"
    if status == 529:
        return "anthropic.overloaded"
    if status in (408, 504):
        return "anthropic.timeout"
    return "anthropic.server_error"


_REJECTED_CODES = {
    400: ("anthropic.bad_request", "the API refused the request"),
    401: ("anthropic.unauthorized", "the Anthropic API key was refused; set the team's key"),
    402: ("anthropic.payment_required", "the Anthropic account needs billing attention"),
    403: ("anthropic.forbidden", "the Anthropic API key may not use this model or resource"),
    404: ("anthropic.model_not_found", "the model does not exist for this key; check AI_MODEL"),
    413: ("anthropic.request_too_large", "the thread is too large for one request"),
}


def exhausted_for(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds until every per-minute limit the headers report as used up has refilled (`anthropic-ratelimit-<limit>-remaining: 0` with its `-reset` time), else None."""
    now = now or datetime.now(UTC)
    waits = []
    for limit in ("requests", "tokens", "input-tokens", "output-tokens"):
        remaining = headers.get(f"anthropic-ratelimit-{limit}-remaining")
        reset = headers.get(f"anthropic-ratelimit-{limit}-reset")
        if remaining is None or reset is None or remaining.strip() != "0":
            continue
        try:
            when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        waits.append(max(0.0, (when - now).total_seconds()))
    return max(waits) if waits else None


class AnthropicMessages:
    """Calls the Messages API with the summary tool forced. One SDK client per API key; the
    SDK retries (few times, short waits) and traces each call itself (`open_telemetry`)."""

    def __init__(self, settings: SummarizerSettings) -> None:
        self.settings = settings
        self._clients: dict[str, AsyncAnthropic] = {}

    def _client(self, api_key: str) -> AsyncAnthropic:
        client = self._clients.get(api_key)
        if client is None:
            client = self._clients[api_key] = AsyncAnthropic(
                api_key=api_key,
                base_url=self.settings.anthropic_api_url,
                max_retries=self.settings.ai_sdk_max_retries,
                timeout=self.settings.ai_timeout_seconds,
                middleware=[self._no_long_sleeps],
                # One CLIENT span per call (httpx2 is invisible to the httpx instrumentation);
                # metadata only: comment text stays out of traces.
                open_telemetry={"traces": {"enabled": True, "content_mode": "metadata_only"}},
            )
        return client

    async def _no_long_sleeps(self, request: Any, call_next: Any) -> AsyncAPIResponse[Any]:
        # The SDK sleeps for whatever Retry-After says, even hours, inside this delivery.
        # A long wait is the runtime's job (redelivery with delay, or the fallback), so such a
        # response is marked not-retryable here and surfaces as the SDK's typed error.
        response: AsyncAPIResponse[Any] = await call_next(request)
        if response.status_code in _RETRYABLE_STATUS:
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is not None and wait > self.settings.ai_sdk_max_retry_after_seconds:
                response.http_response.headers["x-should-retry"] = "false"
        return response

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def create(
        self,
        *,
        api_key: str,
        model: str,
        system: str,
        prompt: str,
        max_tokens: int,
        max_tasks: int = 1,
    ) -> ModelReply:
        """One Messages call forcing the summary tool (the same tool and schema whatever the
        system prompt says); raises ModelUnavailable/ModelRejected."""
        extra: dict[str, Any] = {}
        if self.settings.ai_thinking != "omit":
            extra["thinking"] = {"type": self.settings.ai_thinking}
        try:
            raw = await self._client(api_key).messages.with_raw_response.create(
                model=model,
                max_tokens=max_tokens,
                system=system,
                messages=[{"role": "user", "content": prompt}],
                tools=[tool(max_tasks)],
                tool_choice={"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True},
                timeout=self.settings.ai_timeout_seconds,
                **extra,
            )
            message = await raw.parse()
        except anthropic.APITimeoutError as error:
            raise ModelUnavailable("anthropic.timeout", str(error)) from error
        except anthropic.APIConnectionError as error:
            raise ModelUnavailable("anthropic.unreachable", str(error)) from error
        except anthropic.APIStatusError as error:
            detail = error.api_message or str(error)
            if error.status_code in _RETRYABLE_STATUS:
                raise ModelUnavailable(
                    _status_code(error.status_code),
                    f"HTTP {error.status_code}: {detail}",
                    retry_after=parse_retry_after(error.response.headers.get("retry-after")),
                ) from error
            code, hint = _REJECTED_CODES.get(
                error.status_code, ("anthropic.rejected", "the API refused the request")
            )
            raise ModelRejected(code, f"{hint} (HTTP {error.status_code}: {detail})") from error
        tool_input = next(
            (
                block.input
                for block in message.content
                if block.type == "tool_use" and block.name == TOOL_NAME
            ),
            None,
        )
        return ModelReply(
            tool_input=tool_input,
            stop_reason=message.stop_reason,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            exhausted_for=exhausted_for(raw.headers),
        )
