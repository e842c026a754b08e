"""Team lookups for the hot path: the team repository behind a short-lived cache."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from figsync_runtime.teams import TEAM_ID, TeamRepository


class CachedTeams:
    """Teams, secrets and the recipient-address map, each cached for `ttl` seconds."""

    def __init__(
        self,
        repo: TeamRepository,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repo = repo
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._cache.get(key)
        now = self.clock()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = await load()
        if self.ttl > 0:
            self._cache[key] = (now, value)
        return value

    async def exists(self, team: str) -> bool:
        if not TEAM_ID.match(team):
            return False
        return await self._cached(("exists", team), lambda: self._exists(team))

    async def _exists(self, team: str) -> bool:
        return await self.repo.get(team) is not None

    async def allowed_networks(self, team: str) -> list[str]:
        return await self._cached(("networks", team), lambda: self._networks(team))

    async def _networks(self, team: str) -> list[str]:
        settings = await self.repo.get(team)
        return settings.allowed_networks if settings else []

    async def secret(self, team: str, name: str) -> str | None:
        return await self._cached(("secret", team, name), lambda: self.repo.get_secret(team, name))

    async def notion_token_unseen(self, team: str) -> bool:
        settings = await self.repo.get(team)
        return bool(settings and settings.notion_webhook_token_unseen)

    async def keep_notion_token(self, team: str, token: str) -> None:
        """Keep Notion's verification token; the dashboard shows it once."""
        await self.repo.change(
            team, {"notion_webhook_token_unseen": True},
            secrets={"notion_webhook_token": token}, changed_by="notion webhook handshake",
        )  # fmt: skip
        self._cache.pop(("secret", team, "notion_webhook_token"), None)

    async def team_for(self, recipients: Sequence[str]) -> str | None:
        mapping: dict[str, str] = await self._cached(("recipients",), self._recipient_map)
        for address in recipients:
            team = mapping.get(address.lower())
            if team:
                return team
        return None

    async def _recipient_map(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for team in await self.repo.teams():
            settings = await self.repo.get(team)
            for address in settings.recipient_addresses if settings else ():
                mapping.setdefault(address.strip().lower(), team)
        return mapping
