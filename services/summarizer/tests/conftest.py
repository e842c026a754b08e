"""The summarize step built by the service's own bootstrap, run by a real StepRunner over the
Postgres event store, talking HTTP to the sandbox's Anthropic server."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from summarizer_testing import DEFAULT_THREAD, thread_event

from figsync_contracts import SummaryGenerated, ThreadResolved, new_envelope
from figsync_eventstore import PostgresEventStore, RecordedEvent
from figsync_runtime import StepRunner
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.service import retry_policy
from figsync_runtime.steps import Decision
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import Sandbox
from figsync_summarizer.bootstrap import build_handler, summarize_step
from figsync_summarizer.handlers import Summarize
from figsync_summarizer.settings import SummarizerSettings


@dataclass
class Harness:
    store: PostgresEventStore
    teams: TeamRepository
    sandbox: Sandbox
    settings: SummarizerSettings
    handler: Summarize
    runner: StepRunner

    async def start_job(self, event: ThreadResolved | None = None, team: str = "default"):
        """Append a ThreadResolved to a new job; returns its envelope."""
        job = str(uuid.uuid4())
        envelope = new_envelope(
            event or thread_event(*DEFAULT_THREAD), stream_id=job, team=team, source="/test"
        )
        await self.store.append(job, [envelope], expected_version=0)
        return envelope

    async def deliver(self, envelope: Any, attempt: int = 1) -> Decision:
        return await self.runner.process(envelope, attempt)

    async def run(self, event: ThreadResolved | None = None, team: str = "default"):
        """One job through the step (redelivered as the runtime would) → its SummaryGenerated."""
        envelope = await self.start_job(event, team)
        for attempt in range(1, self.settings.max_deliveries + 1):
            decision = await self.deliver(envelope, attempt)
            if type(decision).__name__ == "Ack":
                break
        return await self.summary_of(envelope.subject)

    async def summary_of(self, job: str) -> SummaryGenerated:
        found = [e for e in await self.store.read_stream(job) if e.type == SummaryGenerated.type]
        assert len(found) == 1, [e.type for e in await self.store.read_stream(job)]
        return SummaryGenerated.model_validate(found[0].data)

    async def events_of_type(self, type_: str) -> list[RecordedEvent]:
        return [e for e in await self.store.read_all(0, 100_000) if e.type == type_]

    def answered(self) -> list[dict[str, Any]]:
        """The Messages requests the sandbox answered, with its responses."""
        return self.sandbox.anthropic.snapshot()["messages"]

    def statuses(self) -> list[int | None]:
        return [r.status for r in self.sandbox.anthropic.requests("POST", "/v1/messages")]


@pytest_asyncio.fixture(loop_scope="session")
async def make_harness(
    event_store: PostgresEventStore, sandbox_api: Sandbox
) -> AsyncIterator[Callable[..., Any]]:
    built: list[Summarize] = []

    def make(**overrides: Any) -> Harness:
        settings = SummarizerSettings(
            **{
                "anthropic_api_url": sandbox_api.anthropic_url,
                "anthropic_api_key": sandbox_api.anthropic_key,
                "ai_model": "claude-haiku-5-5",
                "retry_base_delay_seconds": 0.01,
                **overrides,
            }
        )
        teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
        handler = build_handler(settings, event_store.pool, event_store, teams)
        built.append(handler)
        runner = StepRunner(summarize_step(handler), event_store, retry_policy(settings))
        return Harness(event_store, teams, sandbox_api, settings, handler, runner)

    yield make
    for handler in built:
        await handler.messages.close()  # type: ignore[attr-defined]


@pytest_asyncio.fixture(loop_scope="session")
async def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
