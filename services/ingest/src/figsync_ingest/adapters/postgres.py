"""The ingest tables on Postgres (migration 0003_ingest), shared by every replica."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from figsync_ingest.forwarding import ForwardingCode


class PostgresDeliveryLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def seen(self, team: str, scheme: str, delivery_id: str) -> bool:
        return await self.pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM ingest_delivery_ids
                              WHERE team = $1 AND scheme = $2 AND delivery_id = $3)""",
            team,
            scheme,
            delivery_id,
        )

    async def record(self, team: str, scheme: str, delivery_id: str, job_id: str) -> None:
        await self.pool.execute(
            """INSERT INTO ingest_delivery_ids (team, scheme, delivery_id, job_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            team,
            scheme,
            delivery_id,
            job_id,
        )

    async def prune(self, before: datetime) -> int:
        status = await self.pool.execute(
            "DELETE FROM ingest_delivery_ids WHERE received_at < $1", before
        )
        return int(status.split()[-1])


class PostgresForwardingLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, team: str, job_id: str, found: ForwardingCode) -> None:
        await self.pool.execute(
            """INSERT INTO forwarding_verifications
                   (team, job_id, provider, code, requested_by, confirmation_url)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            team,
            job_id,
            found.provider,
            found.code,
            found.requested_by,
            found.confirmation_url,
        )
