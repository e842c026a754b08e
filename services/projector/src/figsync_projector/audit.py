"""The audit trail: who did what to a team, when. Token and member changes are AuditRecorded
events on the team's `audit:<team>` stream, appended in the transaction of the change itself,
so a change is never without its record (and a failed append undoes the change); settings and
secrets changed (TeamSettingsChanged, names only), retries, manual syncs and priced AI previews
asked for are events already. `trail` reads them all, newest first, for the dashboard, the API and
`figsync audit`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from figsync_contracts import (
    AuditRecorded,
    JobRetryRequested,
    ManualSyncRequested,
    SummaryPreviewed,
    TeamSettingsChanged,
    audit_stream_id,
    new_envelope,
    team_stream_id,
)
from figsync_eventstore import PostgresEventStore


async def record(
    conn: asyncpg.Connection,
    team: str,
    action: str,
    actor: str,
    target: str = "",
    **details: Any,
) -> None:
    """Append an AuditRecorded in `conn`'s transaction; call it last in the transaction (the
    append takes the store's commit-order lock until the commit). Never pass a secret."""
    stream = audit_stream_id(team)
    event = AuditRecorded(action=action, actor=actor or "unknown", target=target,
                          details={k: v for k, v in details.items() if v is not None})  # fmt: skip
    envelope = new_envelope(event, stream_id=stream, team=team, source="/projector/audit")
    # A store over the connection appends inside the caller's transaction.
    await PostgresEventStore(conn).append(stream, [envelope], None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Entry:
    """One line of the audit trail: who did what to which thing, when (never a secret)."""

    position: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


# Events that are the audit trail, besides the team's settings and its audit stream.
_TEAM_ACTS = (JobRetryRequested.type, ManualSyncRequested.type, SummaryPreviewed.type)


async def trail(
    pool: asyncpg.Pool, team: str, *, limit: int = 100, before: int | None = None
) -> list[Entry]:
    """The team's audit trail, newest first: settings and secrets changed (TeamSettingsChanged),
    tokens and members (AuditRecorded), retries, manual syncs and AI previews asked for."""
    rows = await pool.fetch(
        """SELECT position, stream_id, type, data::text AS data, recorded_at FROM events
           WHERE ((stream_id = $2 AND type = $3) OR stream_id = $4
                  OR (type = ANY($5::text[]) AND metadata->>'team' = $1))
             AND position < $6
           ORDER BY position DESC LIMIT $7""",
        team, team_stream_id(team), TeamSettingsChanged.type, audit_stream_id(team),
        list(_TEAM_ACTS), before or (1 << 62), limit,
    )  # fmt: skip
    entries: list[Entry] = []
    for row in rows:
        entries += _entries(row["position"], row["stream_id"], row["type"],
                            json.loads(row["data"]), row["recorded_at"])  # fmt: skip
    return entries


def _entries(
    position: int, stream: str, kind: str, data: dict[str, Any], at: datetime
) -> list[Entry]:
    def entry(actor: str, action: str, target: str = "", **details: Any) -> Entry:
        return Entry(position, at, actor or "unknown", action, target, details)

    if kind == AuditRecorded.type:
        return [entry(data.get("actor", ""), data["action"], data.get("target", ""),
                      **data.get("details", {}))]  # fmt: skip
    if kind == JobRetryRequested.type:
        return [entry(data.get("requested_by", ""), "job.retry", stream, step=data.get("step"))]
    if kind == ManualSyncRequested.type:
        return [entry(data.get("requested_by", ""), "sync.requested", data.get("file_key", ""))]
    if kind == SummaryPreviewed.type:
        return [entry(data.get("requested_by", ""), "ai.previewed", data.get("thread", ""),
                      model=data.get("model"), cost_usd=data.get("cost_usd"),
                      draft=data.get("draft"))]  # fmt: skip
    who = data.get("changed_by", "")
    found = []
    if data.get("changes"):
        found.append(entry(who, "settings.changed", ", ".join(sorted(data["changes"])),
                           changes=data["changes"]))  # fmt: skip
    found += [entry(who, "secret.set", name) for name in data.get("secrets_changed", [])]
    found += [entry(who, "secret.cleared", name) for name in data.get("secrets_cleared", [])]
    return found
