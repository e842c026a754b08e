"""Step locks on Postgres advisory locks: held by a connection, freed if the process dies."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


def lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for a key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class PostgresStepLocks:
    """`async with locks.hold(key) as held:` — held is False when another process has it.

    Uses its own pool: each held lock keeps one connection for the step's duration."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        ident = lock_id(key)
        async with self.pool.acquire() as conn:
            held = await conn.fetchval("SELECT pg_try_advisory_lock($1)", ident)
            try:
                yield bool(held)
            finally:
                if held and not conn.is_closed():
                    await conn.execute("SELECT pg_advisory_unlock($1)", ident)
