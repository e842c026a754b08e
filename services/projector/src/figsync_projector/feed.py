"""Wakes the SSE streams of this process when the projector commits a batch (on any replica)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from figsync_projector.projection import CHANGES_CHANNEL

log = structlog.get_logger("figsync.projector.feed")


class ChangeFeed:
    """LISTENs on the projections channel; streams wait on it (and poll, should it drop)."""

    def __init__(self, database_url: str | None, reconnect_seconds: float = 1.0) -> None:
        self.database_url = database_url
        self.reconnect_seconds = reconnect_seconds
        self.closed = False
        self._changed = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """Take before reading, wait after: a change in between is not missed."""
        return self._changed

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, waiter: asyncio.Event, timeout: float) -> bool:
        """True if something changed (or the feed closed) within `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await waiter.wait()
                return True
        return False

    def close(self) -> None:
        self.closed = True
        self.notify()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set() and self.database_url:
                try:
                    conn = await asyncpg.connect(self.database_url)
                except (OSError, asyncpg.PostgresError) as error:
                    log.warning("change feed cannot reach postgres", error=str(error))
                else:
                    try:
                        await conn.add_listener(CHANGES_CHANNEL, lambda *_: self.notify())
                        while not stop.is_set() and not conn.is_closed():
                            with contextlib.suppress(TimeoutError):
                                async with asyncio.timeout(self.reconnect_seconds):
                                    await stop.wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.close()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.reconnect_seconds):
                        await stop.wait()
            if not self.database_url:
                await stop.wait()
        finally:
            self.close()
