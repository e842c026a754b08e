"""Helpers for the notion tests: jobs in a real event store, the step run by a real StepRunner
over it, pages read back from the Notion sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from figsync_contracts import (
    Envelope,
    JobFailed,
    SummaryGenerated,
    TaskCreated,
    ThreadComment,
    ThreadResolved,
    new_envelope,
)
from figsync_eventstore import PostgresEventStore
from figsync_notion.bootstrap import notion_api, notion_tasks, task_step
from figsync_notion.handlers import NotionTasks
from figsync_notion.settings import NotionSettings
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.steps import Ack, RetryPolicy, StepRunner
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import TASKS_DATABASE_ID

FILE_URL = "https://www.figma.com/design/Xk3pQ9dLm2RtV8bNc4HsZa/Onboarding-Flow"


def thread_resolved(
    comments: list[tuple[str, str]] | None = None, *, mentions: list[str] | None = None
) -> ThreadResolved:
    comments = comments or [
        ("Maarten", "@Anna Smith can you review the onboarding copy?"),
        ("Anna Smith", "Sure, I'll look at it tomorrow."),
    ]
    thread = [
        ThreadComment(
            comment_id=str(1000000001 + i),
            author=a,
            text=t,
            created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=i),
        )
        for i, (a, t) in enumerate(comments)
    ]
    return ThreadResolved(
        file_key="Xk3pQ9dLm2RtV8bNc4HsZa",
        file_name="Onboarding Flow",
        file_url=FILE_URL,
        comment_id="1000000001",
        root_comment_id="1000000001",
        author=comments[0][0],
        text=comments[0][1],
        mentions=mentions if mentions is not None else ["@Anna Smith"],
        thread=thread,
    )


def summary_generated(**changes: Any) -> SummaryGenerated:
    values: dict[str, Any] = {
        "title": "Review the onboarding copy",
        "summary": "Maarten asks Anna to review the onboarding copy; she will tomorrow.",
        "action_items": ["Review the onboarding copy", "Reply in the thread"],
        "priority": "high",
        "category": "review",
        "model": "claude-sandbox",
        "prompt_version": "v1",
        "source": "ai",
    }
    return SummaryGenerated(**{**values, **changes})


async def add_job(
    store: PostgresEventStore,
    job_id: str,
    *,
    thread: ThreadResolved | None = None,
    summary: SummaryGenerated | None = None,
    team: str = "default",
) -> Envelope:
    """A job whose thread was resolved and summarised; returns the SummaryGenerated envelope."""
    resolved = new_envelope(
        thread or thread_resolved(), stream_id=job_id, team=team, source="/services/figma"
    )
    summarised = new_envelope(
        summary or summary_generated(),
        stream_id=job_id,
        team=team,
        source="/services/summarizer",
        causation=resolved,
    )
    await store.append(job_id, [resolved, summarised], expected_version=0)
    return summarised


async def configure_team(
    store: PostgresEventStore,
    sandbox: Any,
    *,
    team: str = "default",
    database_id: str = TASKS_DATABASE_ID,
    mapping: dict[str, str] | None = None,
    token: str | None = None,
) -> TeamRepository:
    teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
    changes: dict[str, Any] = {"notion_database_id": database_id}
    if mapping is not None:
        changes["notion_field_mapping"] = mapping
    await teams.change(
        team, changes, secrets={"notion_token": token or sandbox.notion_token}, changed_by="test"
    )
    return teams


@dataclass
class Harness:
    """The notion step on a real StepRunner over the Postgres store, delivering like NATS would
    (redelivering after the runner's delay until it acks)."""

    store: PostgresEventStore
    deps: NotionTasks
    runner: StepRunner

    async def deliver(self, envelope: Envelope, *, max_wait: float = 30.0) -> list[str]:
        decisions = []
        attempt = 1
        while True:
            decision = await self.runner.process(envelope, attempt)
            decisions.append(type(decision).__name__)
            if isinstance(decision, Ack):
                return decisions
            assert decision.delay <= max_wait, decision
            await asyncio.sleep(decision.delay)
            attempt += 1

    async def outcome(self, job_id: str) -> TaskCreated | JobFailed | None:
        for recorded in reversed(await self.store.read_stream(job_id)):
            if recorded.type == TaskCreated.type:
                return TaskCreated.model_validate(recorded.data)
            if recorded.type == JobFailed.type:
                return JobFailed.model_validate(recorded.data)
        return None

    async def types(self, job_id: str) -> list[str]:
        return [e.type.split(".")[1] for e in await self.store.read_stream(job_id)]


def harness(
    store: PostgresEventStore, teams: TeamRepository, sandbox: Any, **settings: Any
) -> Harness:
    values = {
        "notion_api_url": sandbox.notion_url,
        "notion_wait_budget_seconds": 10.0,
        "notion_requests_per_second": 50.0,
        **settings,
    }
    config = NotionSettings(**values)
    deps = notion_tasks(config, notion_api(config), teams)
    policy = RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=5.0)
    return Harness(store, deps, StepRunner(task_step(deps), store, policy))


def texts(page: Any) -> list[str]:
    """The plain text of each block of a sandbox page's body."""
    out = []
    for block in page.children:
        kind = block["type"]
        out.append("".join(i["plain_text"] for i in block.get(kind, {}).get("rich_text", [])))
    return out
