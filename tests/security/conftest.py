"""Fixtures of the security suite; helpers live in `security_testing` (put on sys.path here)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from security_testing import Ingest, build_ingest

from figsync_eventstore import PostgresEventStore


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ingest(module_pool) -> AsyncIterator[Ingest]:
    client, _ = await build_ingest(module_pool)
    async with client:
        yield Ingest(client, PostgresEventStore(module_pool))
