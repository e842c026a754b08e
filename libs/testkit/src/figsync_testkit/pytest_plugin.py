"""figsync test fixtures: Postgres and NATS, embedded unless FIGSYNC_DATABASE_URL /
FIGSYNC_NATS_URL point at existing servers (Postgres >= 14, NATS >= 2.10 with JetStream)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
import pytest_asyncio

from figsync_testkit.embedded import EmbeddedNats, EmbeddedPostgres

# One template per pytest-xdist worker: on a shared FIGSYNC_DATABASE_URL the workers would
# otherwise drop each other's template.
TEMPLATE_DB = f"figsync_test_template{os.environ.get('PYTEST_XDIST_WORKER', '')}"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres | None]:
    """The embedded Postgres (None when FIGSYNC_DATABASE_URL is set)."""
    if os.environ.get("FIGSYNC_DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def nats_server() -> Iterator[EmbeddedNats | None]:
    """The embedded NATS server (None when FIGSYNC_NATS_URL is set)."""
    if os.environ.get("FIGSYNC_NATS_URL"):
        yield None
        return
    server = EmbeddedNats().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: EmbeddedPostgres | None) -> str:
    return os.environ.get("FIGSYNC_DATABASE_URL") or postgres_server.url  # type: ignore[union-attr]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_template(postgres_url: str) -> str:
    """A database with every migration applied, copied for each test."""
    from figsync_eventstore import migrate

    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await conn.close()
    await migrate(_with_database(postgres_url, TEMPLATE_DB))
    return TEMPLATE_DB


@asynccontextmanager
async def fresh_database(postgres_url: str, template: str) -> AsyncIterator[str]:
    """A migrated database copied from the template, dropped afterwards; yields its URL."""
    name = f"figsync_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await conn.close()
    try:
        yield _with_database(postgres_url, name)
    finally:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(postgres_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database of its own for one test."""
    async with fresh_database(postgres_url, migrated_template) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_pool(postgres_url: str, migrated_template: str) -> AsyncIterator[asyncpg.Pool]:
    """One migrated database shared by a test module (for suites whose tests use unique ids
    and measure appends as position deltas; a database per test costs ~0.5 s)."""
    from figsync_eventstore import create_pool

    async with fresh_database(postgres_url, migrated_template) as url:
        pool = await create_pool(url, max_size=20)
        try:
            yield pool
        finally:
            await pool.close()


@pytest.fixture(scope="session")
def nats_server_url(nats_server: EmbeddedNats | None) -> str:
    return os.environ.get("FIGSYNC_NATS_URL") or nats_server.url  # type: ignore[union-attr]


@pytest_asyncio.fixture(loop_scope="session")
async def nats_url(nats_server_url: str) -> str:
    """The NATS server, with every JetStream stream removed so each test starts empty."""
    nc = await nats.connect(nats_server_url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
    finally:
        await nc.close()
    return nats_server_url


@pytest_asyncio.fixture(loop_scope="session")
async def pg_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    from figsync_eventstore import create_pool

    pool = await create_pool(database_url, max_size=20)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def event_store(pg_pool: asyncpg.Pool):
    """A PostgresEventStore on a fresh database."""
    from figsync_eventstore import PostgresEventStore

    return PostgresEventStore(pg_pool)


@pytest.fixture
def spawn(tmp_path, database_url: str, nats_url: str):
    """Start figsync processes wired to this test's database and NATS; all stopped afterwards."""
    from figsync_testkit.processes import ServiceProcess

    started: list[ServiceProcess] = []

    def _spawn(module: str, wait_ready: bool = True, **env: str) -> ServiceProcess:
        process = ServiceProcess(
            module,
            {"FIGSYNC_DATABASE_URL": database_url, "FIGSYNC_NATS_URL": nats_url, **env},
            tmp_path,
        )
        started.append(process.start(wait_ready=wait_ready))
        return process

    yield _spawn
    for process in started:
        process.kill()


from figsync_testkit.system import otlp, system  # noqa: E402, F401 - fixtures for e2e suites
