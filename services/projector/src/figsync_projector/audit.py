"""The audit trail of who may reach a team: each token and member change is an AuditRecorded
event on the team's `audit:<team>` stream, appended in the transaction of the change itself,
so a change is never without its record (and a failed append undoes the change)."""

from __future__ import annotations

from typing import Any

import asyncpg

from figsync_contracts import AuditRecorded, audit_stream_id, new_envelope
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
