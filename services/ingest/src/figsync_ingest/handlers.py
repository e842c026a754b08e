"""Accepting a verified inbound message: append it to its job's stream, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from figsync_contracts import (
    CommentReceived,
    EmailReceived,
    Event,
    NotionPageChanged,
    comment_job_id,
    email_job_id,
    new_envelope,
    notion_page_stream_id,
)
from figsync_eventstore import Appended, EventStore, stored_size
from figsync_ingest import forwarding
from figsync_ingest.emails import InboundEmail
from figsync_ingest.errors import Rejected
from figsync_ingest.limits import TokenBuckets
from figsync_ingest.ports import DeliveryLog, ForwardingLog, TeamDirectory
from figsync_ingest.settings import IngestSettings
from figsync_runtime.tracing import current_traceparent

log = structlog.get_logger("figsync.ingest")

SOURCE = "/services/ingest"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ingest:
    """Everything the ingest handlers use, built once by the bootstrap."""

    settings: IngestSettings
    store: EventStore
    teams: TeamDirectory
    deliveries: DeliveryLog
    forwarding: ForwardingLog
    source_limits: TokenBuckets
    team_limits: TokenBuckets
    now: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class Delivery:
    """A sender's id for one delivery, refused when it comes again (replay)."""

    scheme: Literal["standard-webhooks", "mailgun", "notion"]
    id: str


@dataclass(frozen=True)
class Outcome:
    status: Literal["accepted", "duplicate"]
    job_id: str

    @property
    def http_status(self) -> int:
        return 202 if self.status == "accepted" else 200


async def _append(ingest: Ingest, team: str, job_id: str, event: Event) -> Outcome:
    envelope = new_envelope(
        event, stream_id=job_id, team=team, source=SOURCE, traceparent=current_traceparent()
    )
    size = stored_size(envelope)
    if size > ingest.settings.max_event_bytes:
        raise Rejected(
            413,
            "ingest.event_too_large",
            f"this message makes a {size}-byte event, more than the {ingest.settings.max_event_bytes} "
            "bytes figsync carries (FIGSYNC_MAX_EVENT_BYTES, bounded by the NATS server's "
            "max_payload); a Figma notification is about 50 kB, so this is not one as sent",
        )
    outcome = await ingest.store.append(job_id, [envelope], expected_version=0)
    # A Conflict (or the same event id) means this job's first event is already stored.
    status = "accepted" if isinstance(outcome, Appended) else "duplicate"
    log.info("inbound " + status, team=team, job_id=job_id, type=event.name)
    return Outcome(status, job_id)


async def accept_email(
    ingest: Ingest, team: str, email: InboundEmail, delivery: Delivery | None = None
) -> Outcome:
    """Append EmailReceived to the job derived from the Message-ID (202 once, then 200)."""
    job_id = email_job_id(team, email.message_id)
    event = EmailReceived(
        transport=email.transport,  # type: ignore[arg-type]
        message_id=email.message_id,
        sender=email.sender,
        recipients=list(email.recipients),
        subject=email.subject,
        html=email.html,
        text=email.text,
        sent_at=email.sent_at,
        received_at=ingest.now(),
    )
    outcome = await _append(ingest, team, job_id, event)
    if outcome.status == "accepted":
        found = forwarding.detect(email)
        if found is not None:
            await ingest.forwarding.record(team, job_id, found)
            log.info("forwarding verification code kept", team=team, provider=found.provider)
    await _remember(ingest, team, delivery, job_id)
    return outcome


async def accept_comment(ingest: Ingest, team: str, comment: CommentReceived) -> Outcome:
    """Append CommentReceived to the job derived from file key and comment id."""
    job_id = comment_job_id(team, comment.file_key, comment.comment_id)
    return await _append(ingest, team, job_id, comment)


async def accept_notion(
    ingest: Ingest, team: str, changed: NotionPageChanged, delivery: Delivery
) -> Outcome:
    """Append NotionPageChanged to the page's stream (every event: the page is read anew)."""
    stream = notion_page_stream_id(team, changed.page_id)
    envelope = new_envelope(
        changed, stream_id=stream, team=team, source=SOURCE, traceparent=current_traceparent()
    )
    await ingest.store.append(stream, [envelope], expected_version=None)
    log.info("notion page change accepted", team=team, page_id=changed.page_id)
    await _remember(ingest, team, delivery, stream)
    return Outcome("accepted", stream)


async def _remember(ingest: Ingest, team: str, delivery: Delivery | None, job_id: str) -> None:
    # Recorded after the append committed: a delivery that failed before it (database down)
    # can be retried with the same id. A replay racing the first delivery still appends
    # nothing (the job's stream is no longer empty); it answers "duplicate" instead of 409.
    if delivery is None:
        return
    try:
        await ingest.deliveries.record(team, delivery.scheme, delivery.id, job_id)
    except Exception:
        log.warning("delivery id not recorded", team=team, job_id=job_id, exc_info=True)


async def replayed(ingest: Ingest, team: str, delivery: Delivery) -> bool:
    return await ingest.deliveries.seen(team, delivery.scheme, delivery.id)


async def prune_deliveries(ingest: Ingest, stop: asyncio.Event, every: float = 60.0) -> None:
    """Forget delivery ids once their timestamps are far outside the tolerance anyway."""
    while not stop.is_set():
        retention = timedelta(seconds=ingest.settings.delivery_id_retention_seconds)
        try:
            removed = await ingest.deliveries.prune(ingest.now() - retention)
            if removed:
                log.info("delivery ids pruned", removed=removed)
        except Exception:
            log.warning("delivery id pruning failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
