"""What the ingest handlers need of the world, as small protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from figsync_ingest.forwarding import ForwardingCode


class DeliveryLog(Protocol):
    """Delivery ids (Standard Webhooks `webhook-id`, Mailgun token) already accepted."""

    async def seen(self, team: str, scheme: str, delivery_id: str) -> bool: ...

    async def record(self, team: str, scheme: str, delivery_id: str, job_id: str) -> None: ...

    async def prune(self, before: datetime) -> int: ...


class ForwardingLog(Protocol):
    """Forwarding-verification codes, for the dashboard."""

    async def record(self, team: str, job_id: str, found: ForwardingCode) -> None: ...


class TeamDirectory(Protocol):
    """Which teams exist, their inbound secrets, and which team a recipient address belongs to."""

    async def exists(self, team: str) -> bool: ...

    async def secret(self, team: str, name: str) -> str | None: ...

    async def allowed_networks(self, team: str) -> list[str]: ...

    async def team_for(self, recipients: Sequence[str]) -> str | None: ...

    async def notion_token_unseen(self, team: str) -> bool: ...

    async def keep_notion_token(self, team: str, token: str) -> None: ...
