"""Fixtures of the fuzz suite: the ingest app (by its own bootstrap) and the projector's API,
in process over ASGI, on one real migrated database for the whole module.

The ingest harness and signing helpers are the security suite's (`security_testing`)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio
import structlog

sys.path.insert(0, str(Path(__file__).parent.parent / "security"))
sys.path.insert(0, str(Path(__file__).parent))

from figsync_eventstore import create_pool


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_pool(postgres_url: str, migrated_template: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"figsync_fuzz_{uuid.uuid4().hex[:10]}"
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


@pytest.fixture(autouse=True, scope="module")
def quiet_logs() -> Iterator[None]:
    """Thousands of refusals would each print a line; only warnings and errors are kept."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)
