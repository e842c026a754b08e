"""Answers of outside APIs shared by every replica for a short while, loaded once at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from figsync_runtime.locks import PostgresStepLocks


class SharedCache:
    """`await cache.fetch(key, max_age, load)`: the stored value when younger than `max_age`
    seconds; otherwise one replica loads it (single flight, under a lease renewed while it
    loads) while the others wait for its result — taking over if its load fails — up to
    `wait_for_other` seconds before loading it themselves."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        wait_for_other: float = 60.0,
        poll: float = 0.25,
        keep_seconds: float = 3600.0,
    ) -> None:
        self.pool = pool
        self.locks = PostgresStepLocks(pool, ttl_seconds=15.0)
        self.wait_for_other = wait_for_other
        self.poll = poll
        self.keep_seconds = keep_seconds

    async def get(self, key: str, max_age: float) -> Any | None:
        row = await self.pool.fetchrow(
            """SELECT value FROM shared_cache
               WHERE key = $1 AND stored_at > clock_timestamp() - make_interval(secs => $2)""",
            key, max_age,
        )  # fmt: skip
        return None if row is None else row["value"]

    async def put(self, key: str, value: Any) -> None:
        await self.pool.execute(
            """INSERT INTO shared_cache (key, value) VALUES ($1, $2)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                               stored_at = clock_timestamp()""",
            key, value,
        )  # fmt: skip

    async def forget_old(self) -> int:
        """Drop entries older than `keep_seconds` (what they held may be personal data)."""
        status = await self.pool.execute(
            "DELETE FROM shared_cache WHERE stored_at < clock_timestamp() - make_interval(secs => $1)",
            self.keep_seconds,
        )
        return int(status.split()[-1])

    async def fetch(self, key: str, max_age: float, load: Callable[[], Awaitable[Any]]) -> Any:
        if max_age <= 0:
            value = await load()
            await self.put(key, value)
            return value
        if (hit := await self.get(key, max_age)) is not None:
            return hit
        deadline = time.monotonic() + self.wait_for_other
        while True:
            async with self.locks.hold(f"cache:{key}") as loading_here:
                if loading_here:
                    # Filled while we waited for the lease? Then that answer is fresh enough.
                    if (hit := await self.get(key, max_age)) is not None:
                        return hit
                    value = await load()
                    await self.put(key, value)
                    return value
            # Another replica is loading (it may be waiting for its API budget): wait for its
            # answer, or for the lease it frees if its load fails.
            await asyncio.sleep(self.poll)
            if (hit := await self.get(key, max_age)) is not None:
                return hit
            if time.monotonic() > deadline:
                break
        value = await load()  # the other loader died or is stuck: load it ourselves
        await self.put(key, value)
        return value
