"""Versioned plain-SQL migrations, applied in order, once, safely when run concurrently."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import asyncpg

# Any constant works; it only has to be the same for every `figsync migrate` process.
_MIGRATION_LOCK = 7_351_402_118


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    """The migrations shipped with this package, in version order."""
    found = []
    for entry in resources.files("figsync_eventstore.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


class MigrationError(RuntimeError):
    """An applied migration differs from the shipped one, or one failed."""


async def missing_migrations(conn: asyncpg.Connection | asyncpg.Pool) -> list[int]:
    """The shipped migrations this database has not applied yet (all of them on a new one)."""
    shipped = [m.version for m in migrations()]
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return shipped
    applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    return [version for version in shipped if version not in applied]


async def migrate(dsn: str) -> list[int]:
    """Apply every migration not applied yet; returns the versions applied by this call."""
    conn = await asyncpg.connect(dsn)
    try:
        # Session lock: a second `figsync migrate` waits here, then finds nothing to do.
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        done = []
        for migration in migrations():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} ({migration.name}) was changed after "
                        "it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.close()  # closing the session releases the advisory lock
