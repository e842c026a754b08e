"""Plausible job histories for tests: seeded, so a failure can be replayed."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from figsync_contracts import (
    CommentReceived,
    ConfirmationPosted,
    ConfirmationSkipped,
    EffectIntended,
    EmailReceived,
    Envelope,
    Event,
    JobDeferred,
    JobFailed,
    JobIgnored,
    JobResumed,
    JobRetryRequested,
    ManualSyncRequested,
    SummaryGenerated,
    SummaryPreviewed,
    TaskCreated,
    TeamSettingsChanged,
    ThreadResolved,
    new_envelope,
    summary_preview_stream_id,
    team_stream_id,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def email(n: int = 0) -> EmailReceived:
    return EmailReceived(
        transport="json", message_id=f"<m{n}@figma.com>", sender="comments-ABC@email.figma.com",
        recipients=["tasks@example.com"], subject="Anna mentioned you", html="<p>hi</p>",
        received_at=NOW,
    )  # fmt: skip


def comment(file_key: str = "FILEKEY1", comment_id: str = "c1", origin: str = "webhook"):
    return CommentReceived(
        origin=origin, file_key=file_key, file_name="Landing page", comment_id=comment_id,
        author_handle="Anna Smith", text="@Bob please fix", mentions=["Bob"],
    )  # fmt: skip


def resolved(file_key: str = "FILEKEY1", comment_id: str = "c1") -> ThreadResolved:
    return ThreadResolved(
        file_key=file_key, file_name="Landing page", file_url=f"https://figma.com/file/{file_key}",
        comment_id=comment_id, root_comment_id=comment_id, author="Anna Smith",
        text="@Bob please fix", mentions=["Bob"], thread=[],
    )  # fmt: skip


def summary(cost: str = "0.0123", source: str = "ai", model: str = "claude") -> SummaryGenerated:
    return SummaryGenerated(
        title="Fix the header", summary="Bob fixes it", action_items=["fix"], priority="high",
        category="design", model=model, prompt_version="1", input_tokens=120,
        output_tokens=40, cost_usd=Decimal(cost), source=source,
    )  # fmt: skip


def previewed(cost: str = "0.0040", model: str = "claude", source: str = "ai") -> SummaryPreviewed:
    return SummaryPreviewed(
        preview_id=str(uuid.uuid4()), thread="sample", model=model, prompt_version="1",
        input_tokens=300, output_tokens=60, cost_usd=Decimal(cost), source=source,
        requested_by="token:abc (ops)",
    )  # fmt: skip


def task(job: str) -> TaskCreated:
    return TaskCreated(page_id=f"page-{job[:8]}", url=f"https://notion.so/{job[:8]}")


def failed(step: str, code: str, attempts: int = 3) -> JobFailed:
    return JobFailed(step=step, code=code, message=f"{code}: it broke", attempts=attempts)


def envelope(event: Event, stream: str, team: str = "acme") -> Envelope:
    return new_envelope(event, stream_id=stream, team=team, source="/tests")


async def append(store, stream: str, *events: Event, team: str = "acme") -> None:
    for event in events:
        await store.append(stream, [envelope(event, stream, team)], expected_version=None)


def job_script(rng: random.Random, job: str) -> list[Event]:
    """The events one job goes through, chosen at random among the real paths."""
    start: Event = (
        email(rng.randrange(10**9))
        if rng.random() < 0.5
        else comment(
            comment_id=f"c{rng.randrange(10**6)}", origin=rng.choice(["webhook", "manual_sync"])
        )
    )
    events: list[Event] = [start]
    fate = rng.random()
    if fate < 0.1:
        return [*events, JobIgnored(reason="mention_not_tracked")]
    if fate < 0.2:
        events.append(failed("figma", "figma.comment_not_found", 1))
        if rng.random() < 0.5:
            return events
        events.append(JobRetryRequested(step="figma"))
    events.append(resolved())
    if rng.random() < 0.15:
        events += [
            JobDeferred(step="summarizer", code="anthropic.rate_limited", until=NOW, attempts=2),
            JobResumed(step="summarizer"),
        ]
    events.append(
        summary(
            cost=f"0.{rng.randrange(10000):04d}", source=rng.choice(["ai", "cache", "fallback"]),
            model=rng.choice(["claude-haiku-5-5", "claude-sonnet-5"]),
        )
    )  # fmt: skip
    events.append(EffectIntended(step="notion", effect="notion.page", key=job))
    if rng.random() < 0.15:
        events.append(failed("notion", "notion.unauthorized", 5))
        if rng.random() < 0.5:
            return events
        events.append(JobRetryRequested(step="notion"))
    events.append(task(job))
    events.append(
        ConfirmationSkipped(reason="confirmations_disabled")
        if rng.random() < 0.2
        else ConfirmationPosted(comment_id="r1")
    )
    return events


async def random_history(store, seed: int, jobs: int = 30, teams=("acme", "globex")) -> int:
    """Append interleaved job histories (plus team and sync streams); returns the event count."""
    rng = random.Random(seed)
    pending: list[tuple[str, str, list[Event]]] = []
    count = 0
    for team in teams:
        await append(
            store, team_stream_id(team), TeamSettingsChanged(changes={"name": team}), team=team
        )
        count += 1
    for _ in range(jobs):
        job = str(uuid.UUID(int=rng.getrandbits(128)))
        pending.append((job, rng.choice(teams), job_script(rng, job)))
    while pending:
        index = rng.randrange(len(pending))
        job, team, script = pending[index]
        take = rng.randint(1, 3)
        await append(store, job, *script[:take], team=team)
        count += len(script[:take])
        if rng.random() < 0.03:
            await append(
                store, f"sync:{team}:{uuid.uuid4()}", ManualSyncRequested(file_key="F1"), team=team
            )
            count += 1
        if rng.random() < 0.03:
            event = previewed(f"0.{rng.randrange(10000):04d}", rng.choice(["a", "b"]))
            await append(store, summary_preview_stream_id(team, event.preview_id), event,
                         team=team)  # fmt: skip
            count += 1
        if script[take:]:
            pending[index] = (job, team, script[take:])
        else:
            pending.pop(index)
    return count


__all__ = [
    "NOW",
    "append",
    "comment",
    "email",
    "envelope",
    "failed",
    "previewed",
    "random_history",
    "resolved",
    "summary",
    "task",
    "timedelta",
]
