"""Step locks as Postgres leases, and the failed-attempt counter of the step runner.

A lease is a row (key, holder, expires_at): taken when absent or expired, renewed while the
step runs, deleted when it ends. It holds no connection while the step runs, so connection
use does not grow with messages in flight; a holder killed mid-step frees it at expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog

log = structlog.get_logger("figsync.locks")


class PostgresStepLocks:
    """`async with locks.hold(key) as held:` — held is False when another holder has it."""

    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float = 30.0) -> None:
        self.pool = pool
        self.ttl = ttl_seconds
        self.holder = uuid.uuid4().hex

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        taken = await self.pool.fetchval(
            """INSERT INTO step_leases (key, holder, expires_at)
               VALUES ($1, $2, now() + make_interval(secs => $3))
               ON CONFLICT (key) DO UPDATE
                   SET holder = excluded.holder, expires_at = excluded.expires_at
                   WHERE step_leases.expires_at < now()
               RETURNING true""",
            key, self.holder, self.ttl,
        )  # fmt: skip
        if not taken:
            yield False
            return
        renewing = asyncio.create_task(self._renew(key))
        try:
            yield True
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            # Shielded: a step cancelled at shutdown still frees its lease for the next one.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._release(key))

    async def _renew(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                kept = await self.pool.fetchval(
                    """UPDATE step_leases SET expires_at = now() + make_interval(secs => $3)
                       WHERE key = $1 AND holder = $2 RETURNING true""",
                    key, self.holder, self.ttl,
                )  # fmt: skip
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                log.warning("could not renew a step lease", key=key, error=str(error))
                continue
            if not kept:
                log.warning("a step lease expired while its step ran", key=key)
                return

    async def _release(self, key: str) -> None:
        await self.pool.execute(
            "DELETE FROM step_leases WHERE key = $1 AND holder = $2", key, self.holder
        )


class PostgresAttempts:
    """Failed attempts of a step per trigger, shared by every replica."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def failed(self, key: str) -> int:
        """Count one more failure; returns the failures so far, this one included."""
        return await self.pool.fetchval(
            """INSERT INTO step_attempts (key, failures) VALUES ($1, 1)
               ON CONFLICT (key) DO UPDATE
                   SET failures = step_attempts.failures + 1, updated_at = now()
               RETURNING failures""",
            key,
        )

    async def count(self, key: str) -> int:
        """Failures so far."""
        return await self.pool.fetchval(
            "SELECT coalesce((SELECT failures FROM step_attempts WHERE key = $1), 0)", key
        )
