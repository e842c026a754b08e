"""The whole system as processes against the sandbox, with an OTLP receiver collecting spans.

Used by the end-to-end, chaos and benchmark suites (fixtures `otlp` and `system`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from figsync_testkit.embedded import free_port

EMAIL_SECRET = "whsec_ZTJlLXRlc3Qtc2VjcmV0LW5vdC1yZWFsLTEyMzQ1Ng=="
PASSCODE = "e2e-passcode"
SERVICES = ["ingest", "figma", "summarizer", "notion", "notifier", "projector"]


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    start_ns: int = 0
    end_ns: int = 0


@dataclass
class Collector:
    url: str
    spans: list[Span] = field(default_factory=list)

    def trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@contextlib.contextmanager
def otlp_receiver() -> Iterator[Collector]:
    """A real OTLP/HTTP receiver (protobuf) on a free port, served in a background thread."""
    port = free_port()
    collector = Collector(f"http://127.0.0.1:{port}")

    async def traces(request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource_spans in export.resource_spans:
            attrs = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    collector.spans.append(Span(
                        service=str(attrs.get("service.name", "")), name=s.name,
                        trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(), kind=s.kind,
                        attributes={a.key: _value(a.value) for a in s.attributes},
                        start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                    ))  # fmt: skip
        return Response(b"", media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    try:
        yield collector
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="session")
def otlp() -> Iterator[Collector]:
    """A real OTLP/HTTP receiver (protobuf) on a free port."""
    with otlp_receiver() as collector:
        yield collector


@dataclass
class System:
    processes: dict[str, Any]
    store: Any
    sandbox: Any

    @property
    def ingest(self) -> str:
        return self.processes["ingest"].url

    @property
    def projector(self) -> str:
        return self.processes["projector"].url

    def enable_webhooks(self) -> None:
        """From now on the sandbox sends FILE_COMMENT webhooks to the ingest."""
        self.sandbox.figma.configure(
            webhook_url=f"{self.ingest}/v1/inbound/figma", webhook_passcode=PASSCODE
        )

    async def wait_for(self, job: str, types: set[str], timeout: float = 120) -> list:
        """The job's events once one of `types` is in its stream."""
        async with asyncio.timeout(timeout):
            while True:
                stream = await self.store.read_stream(job)
                if any(e.type.split(".")[1] in types for e in stream):
                    return stream
                await asyncio.sleep(0.2)


OUTCOMES = frozenset(
    {"confirmation_posted", "confirmation_skipped", "job_failed", "job_ignored", "job_deferred"}
)


def outcome(stream: list) -> Any:
    """The job's outcome: its last pipeline-ending event. The thread's lifecycle (reactions,
    updates, status changes) may append events after it."""
    return next(e for e in reversed(stream) if e.type.split(".")[1] in OUTCOMES)


def lift_sandbox_limits(sandbox: Any) -> None:
    """Rate limits of the sandbox APIs high enough that they never pace a test."""
    sandbox.figma.configure(tier2_per_minute=100_000)
    sandbox.notion.configure(burst=1000, rate_per_second=1000)


def system_env(sandbox: Any, otlp_url: str) -> dict[str, str]:
    """Environment of every figsync process: the sandbox's URLs and credentials, the default
    team's settings, short retry delays and OTLP export to `otlp_url`."""
    return {
        "FIGSYNC_FIGMA_API_URL": sandbox.figma_url,
        "FIGSYNC_NOTION_API_URL": sandbox.notion_url,
        "FIGSYNC_ANTHROPIC_API_URL": sandbox.anthropic_url,
        "FIGMA_API_TOKEN": sandbox.figma_token,
        "NOTION_API_KEY": sandbox.notion_token,
        "ANTHROPIC_API_KEY": sandbox.anthropic_key,
        "NOTION_DATABASE_ID": _tasks_database(),
        "FIGSYNC_TRACKED_MENTIONS": "@Anna Smith,@testfigma",
        "FIGSYNC_EMAIL_WEBHOOK_SECRET": EMAIL_SECRET,
        "FIGSYNC_FIGMA_WEBHOOK_PASSCODE": PASSCODE,
        "FIGSYNC_FIGMA_REQUESTS_PER_MINUTE": "100000",
        "FIGSYNC_NOTION_REQUESTS_PER_SECOND": "1000",
        "FIGSYNC_ANTHROPIC_REQUESTS_PER_MINUTE": "100000",
        "FIGSYNC_RETRY_BASE_DELAY_SECONDS": "0.2",
        "FIGSYNC_ACK_WAIT_SECONDS": "5",
        "FIGSYNC_STEP_LEASE_SECONDS": "5",
        "FIGSYNC_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        "FIGSYNC_TESTKIT_INSECURE_HOSTS": sandbox.figma_url.removeprefix("http://"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def start_system(
    spawn: Callable[..., Any],
    sandbox: Any,
    store: Any,
    env: dict[str, str],
    services: list[str] | None = None,
    timeout: float = 60,
) -> System:
    """Start the relay and `services` (default: all) with `spawn(module, wait_ready, **env)`
    and wait until every one is ready."""
    processes = {"relay": spawn("figsync_runtime.relay_main", wait_ready=False, **env)}
    for name in SERVICES if services is None else services:
        own = dict(env)
        if name == "projector":  # the dashboard's Notion check and AI preview, on their ports
            for service, variable in (("notion", "FIGSYNC_NOTION_CHECK_URL"),
                                      ("summarizer", "FIGSYNC_AI_PREVIEW_URL")):  # fmt: skip
                if service in processes:
                    own.setdefault(variable, processes[service].url)
        processes[name] = spawn(f"figsync_{name}.main", wait_ready=False, **own)
    for process in processes.values():
        process.wait_ready(timeout=timeout)
    return System(processes, store, sandbox)


@pytest.fixture
def system(spawn, sandbox_api, event_store, otlp) -> System:
    """Relay and every service as processes, wired to the sandbox and the OTLP receiver."""
    lift_sandbox_limits(sandbox_api)
    return start_system(spawn, sandbox_api, event_store, system_env(sandbox_api, otlp.url))


def _tasks_database() -> str:
    from figsync_sandbox import TASKS_DATABASE_ID

    return TASKS_DATABASE_ID


def signed(body: bytes, secret: str = EMAIL_SECRET) -> dict[str, str]:
    """Standard Webhooks headers for a body, as a sending provider computes them (the
    sender's side, for test clients; the ingest verifies with its own code)."""
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


async def post_email(system: System, message) -> str:
    body = message.as_bytes()
    headers = {"content-type": "message/rfc822", **signed(body)}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{system.ingest}/v1/inbound/email/mime", content=body,
                                   headers=headers)  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()["job_id"]
