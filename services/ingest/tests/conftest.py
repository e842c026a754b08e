"""An ingest app built by the service's own bootstrap over a real database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from ingest_testing import (
    ACME_ADDRESS,
    ACME_SECRET,
    EMAIL_SECRET,
    MAILGUN_KEY,
    PASSCODE,
    POSTMARK_PASSWORD,
    SENDGRID_PASSWORD,
    standard_headers,
)

from figsync_eventstore import PostgresEventStore
from figsync_ingest.bootstrap import build
from figsync_ingest.settings import IngestSettings
from figsync_runtime import Resources
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository


@dataclass
class Harness:
    client: httpx.AsyncClient
    store: PostgresEventStore
    teams: TeamRepository
    pool: Any
    app: Any = None

    async def events(self) -> list[Any]:
        return await self.store.read_all()

    async def post_email(self, payload: bytes, path: str = "/v1/inbound/email", **kw: Any):
        return await self.client.post(
            path, content=payload, headers=standard_headers(payload, **kw)
        )


HarnessFactory = Callable[..., Any]


@pytest.fixture(scope="module")
def ingest_pool(module_pool: asyncpg.Pool) -> asyncpg.Pool:
    """One migrated database per test module (testkit's module_pool)."""
    return module_pool


@pytest_asyncio.fixture(loop_scope="session")
async def make_harness(ingest_pool, monkeypatch) -> AsyncIterator[HarnessFactory]:
    """Build the app with settings overrides: `await make_harness(rate_per_source=1)`; `peer`
    is the TCP peer's address the app sees."""
    event_store = PostgresEventStore(ingest_pool)
    pg_pool = ingest_pool
    monkeypatch.setenv("FIGSYNC_EMAIL_WEBHOOK_SECRET", EMAIL_SECRET)
    monkeypatch.setenv("FIGSYNC_FIGMA_WEBHOOK_PASSCODE", PASSCODE)
    clients: list[httpx.AsyncClient] = []

    async def make(peer: tuple[str, int] = ("127.0.0.1", 123), **overrides: Any) -> Harness:
        settings = IngestSettings(
            **{"database_url": "unused", "nats_url": "unused", "team_cache_seconds": 0, **overrides}
        )
        teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
        resources = Resources(
            "ingest",
            settings,
            pg_pool,
            event_store,
            None,
            asyncio.Event(),
            teams,  # type: ignore[arg-type]
        )
        wiring = await build(resources)
        await teams.change(
            "default",
            {},
            secrets={
                "mailgun_signing_key": MAILGUN_KEY,
                "sendgrid_password": SENDGRID_PASSWORD,
                "postmark_password": POSTMARK_PASSWORD,
            },
        )
        await teams.change(
            "acme",
            {"recipient_addresses": [ACME_ADDRESS]},
            secrets={"email_webhook_secret": ACME_SECRET},
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wiring.app, client=peer),
            base_url="http://ingest.test",
        )
        clients.append(client)
        return Harness(client, event_store, teams, pg_pool, wiring.app)

    yield make
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def harness(make_harness) -> Harness:
    return await make_harness()
