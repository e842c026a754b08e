"""Helpers of the security suite (imported as `security_testing`): the ingest app built by its
own bootstrap over a real database, every inbound secret configured for the default team, a
team `acme` with secrets of its own and a team `bare` with none; signing as senders do."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import httpx

from figsync_eventstore import PostgresEventStore
from figsync_ingest import senders
from figsync_ingest.bootstrap import build
from figsync_ingest.settings import IngestSettings
from figsync_runtime import Resources
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

EMAIL_SECRET = "whsec_" + base64.b64encode(b"security-suite-email-secret-32by").decode()
ACME_SECRET = "whsec_" + base64.b64encode(b"security-suite-acme-secret-32byt").decode()
PASSCODE = "security-suite-figma-passcode"
ACME_PASSCODE = "security-suite-acme-passcode"
MAILGUN_KEY = "key-security-suite-mailgun"
SENDGRID_PASSWORD = "security-suite-sendgrid-password"
POSTMARK_PASSWORD = "security-suite-postmark-password"
MAX_BODY = 64 * 1024


def standard_headers(body: bytes, secret: str = EMAIL_SECRET, **options: Any) -> dict[str, str]:
    return senders.standard_headers(body, secret, **options)


def mailgun_fields(key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict[str, str]:
    return senders.mailgun_fields(key, timestamp)


basic = senders.basic


def legacy_hex(body: bytes, secret: str = EMAIL_SECRET) -> str:
    return senders.legacy_signature(body, secret)


@dataclass
class Ingest:
    client: httpx.AsyncClient
    store: PostgresEventStore

    async def position(self) -> int:
        return await self.store.last_position()


async def build_ingest(pool: Any, **overrides: Any) -> tuple[httpx.AsyncClient, TeamRepository]:
    store = PostgresEventStore(pool)
    settings = IngestSettings(
        **{
            "database_url": "unused",
            "nats_url": "unused",
            "team_cache_seconds": 0,
            "max_body_bytes": MAX_BODY,
            "rate_per_source": 0,
            "rate_per_team": 0,
            **overrides,
        }
    )
    teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
    resources = Resources("ingest", settings, pool, store, None, asyncio.Event(), teams)  # type: ignore[arg-type]
    wiring = await build(resources)
    await teams.change(
        "default",
        {},
        secrets={
            "email_webhook_secret": EMAIL_SECRET,
            "figma_webhook_passcode": PASSCODE,
            "mailgun_signing_key": MAILGUN_KEY,
            "sendgrid_password": SENDGRID_PASSWORD,
            "postmark_password": POSTMARK_PASSWORD,
        },
    )
    await teams.change(
        "acme",
        {},
        secrets={
            "email_webhook_secret": ACME_SECRET,
            "figma_webhook_passcode": ACME_PASSCODE,
            "mailgun_signing_key": "acme-" + MAILGUN_KEY,
            "sendgrid_password": "acme-" + SENDGRID_PASSWORD,
            "postmark_password": "acme-" + POSTMARK_PASSWORD,
        },
    )
    await teams.change("bare", {})  # a team with no inbound secret at all
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wiring.app), base_url="http://ingest.test"
    )
    return client, teams
