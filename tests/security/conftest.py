"""Fixtures of the security suite; helpers live in `security_testing` (put on sys.path here)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from security_testing import Ingest, build_ingest

from figsync_eventstore import PostgresEventStore, create_pool


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_pool(postgres_url: str, migrated_template: str) -> AsyncIterator[asyncpg.Pool]:
    """One migrated database per module: the tests measure appends as position deltas and use
    unique message ids, so they can share it (a database per test costs ~0.4 s each)."""
    name = f"figsync_sec_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {migrated_template}")
    finally:
        await admin.close()
    pool = await create_pool(urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}")))
    yield pool
    await pool.close()
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ingest(module_pool) -> AsyncIterator[Ingest]:
    client, _ = await build_ingest(module_pool)
    async with client:
        yield Ingest(client, PostgresEventStore(module_pool))
