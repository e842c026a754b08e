"""Slack incoming webhooks: one POST of a text message, outcomes as stable codes."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
from opentelemetry import trace

from figsync_runtime.errors import PermanentError, RetryableError
from figsync_runtime.metrics import EXTERNAL_CALLS

tracer = trace.get_tracer("figsync.slack")


class SlackWebhook:
    """Posts to a team's incoming-webhook URL. The URL is a secret: it never appears in
    errors or logs, and only allowed hosts are reached (it is set by a user)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        hosts: frozenset[str] = frozenset({"hooks.slack.com"}),
        insecure_hosts: frozenset[str] = frozenset(),
        timeout: float = 5.0,
    ) -> None:
        self.http = http
        self.hosts = hosts
        self.insecure_hosts = insecure_hosts
        self.timeout = timeout

    def check_url(self, url: str) -> None:
        """PermanentError slack.webhook_not_allowed unless the URL may be called."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname in self.hosts and not parts.username:
            return
        if parts.scheme == "http" and parts.netloc in self.insecure_hosts:
            return
        allowed = ", ".join(sorted(self.hosts))
        raise PermanentError(
            "slack.webhook_not_allowed",
            f"the team's Slack webhook URL is not an https URL on an allowed host ({allowed}); "
            "set the incoming-webhook URL Slack gave you",
        )

    async def post(self, url: str, text: str) -> None:
        """Send `text`; RetryableError for timeouts, 429 and 5xx, PermanentError otherwise."""
        self.check_url(url)
        with tracer.start_as_current_span(
            "slack POST webhook",
            kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": "POST", "server.address": urlsplit(url).netloc},
        ):
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self.http.post(
                        url, json={"text": text, "unfurl_links": False}, timeout=self.timeout
                    )
            except (TimeoutError, httpx.TimeoutException) as error:
                EXTERNAL_CALLS.labels("slack", "timeout").inc()
                raise RetryableError(
                    "slack.timeout", f"Slack did not answer within {self.timeout:g}s"
                ) from error
            except httpx.TransportError as error:
                EXTERNAL_CALLS.labels("slack", "unreachable").inc()
                raise RetryableError(
                    "slack.unreachable", f"Slack could not be reached ({type(error).__name__})"
                ) from error
        self._result(response)

    @staticmethod
    def _result(response: httpx.Response) -> None:
        status = response.status_code
        detail = response.text[:100].strip()
        if status < 300:
            EXTERNAL_CALLS.labels("slack", "ok").inc()
            return
        if status == 429 or status >= 500:
            EXTERNAL_CALLS.labels(
                "slack", "rate_limited" if status == 429 else "server_error"
            ).inc()
            raise RetryableError("slack.unavailable", f"Slack answered {status} {detail}")
        EXTERNAL_CALLS.labels("slack", "client_error").inc()
        if status in (403, 404, 410):
            raise PermanentError(
                "slack.webhook_revoked",
                f"Slack refused the webhook ({status} {detail}); the app or channel may be gone — "
                "create a new incoming webhook and set it in the team's settings",
            )
        raise PermanentError("slack.bad_request", f"Slack answered {status} {detail}")
