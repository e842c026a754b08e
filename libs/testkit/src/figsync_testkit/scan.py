"""Where data can linger, read whole: every row of every table, every message of every
JetStream stream (for tests that prove an erased value is nowhere)."""

from __future__ import annotations

import asyncpg
import nats


async def database_rows(pool: asyncpg.Pool) -> list[str]:
    """Every row of every table outside Postgres' own catalogues, as `schema.table: row`."""
    tables = await pool.fetch(
        """SELECT schemaname, tablename FROM pg_tables
           WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"""
    )
    found: list[str] = []
    for schema, table in tables:
        rows = await pool.fetch(f'SELECT x::text FROM "{schema}"."{table}" x')
        found += [f"{schema}.{table}: {r[0]}" for r in rows]
    return found


async def nats_messages(url: str) -> list[str]:
    """Every message still held by any JetStream stream of the server, decoded."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        found: list[str] = []
        for info in await js.streams_info():
            name, state = info.config.name, info.state
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    msg = await js.get_msg(name, seq)
                except nats.js.errors.NotFoundError:
                    continue  # deleted from the middle of the stream
                found.append(f"{name}#{seq}: {(msg.data or b'').decode(errors='replace')}")
        return found
    finally:
        await nc.close()
