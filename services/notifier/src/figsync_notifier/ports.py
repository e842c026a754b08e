"""The small interfaces the notifier's handlers depend on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from figsync_clients.figma import FigmaComment, FigmaReaction, FigmaUser
from figsync_runtime.teams import TeamSettings


class FigmaComments(Protocol):
    async def comments(
        self, token: str, file_key: str, *, per_minute: float | None = None
    ) -> list[FigmaComment]: ...

    async def post_comment(
        self,
        token: str,
        file_key: str,
        message: str,
        *,
        reply_to: str | None = None,
        per_minute: float | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> FigmaComment: ...

    async def reactions(
        self, token: str, file_key: str, comment_id: str, *, per_minute: float | None = None
    ) -> list[FigmaReaction]: ...

    async def react(
        self,
        token: str,
        file_key: str,
        comment_id: str,
        emoji: str,
        *,
        remove: bool = False,
        per_minute: float | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> None: ...

    async def me(self, token: str, *, per_minute: float | None = None) -> FigmaUser: ...


class Teams(Protocol):
    async def get(self, team: str) -> TeamSettings | None: ...

    async def get_secret(self, team: str, name: str) -> str | None: ...


class AlertChannel(Protocol):
    async def post(self, url: str, text: str) -> None: ...
