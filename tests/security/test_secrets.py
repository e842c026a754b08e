"""Secrets never leave their box: after a full run of the system (success, permanent and
retryable failures, both inbound paths, debug logging), no configured secret value appears in
any process's log or in any table of the database (events first of all)."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlencode

import httpx
import pytest

from figsync_sandbox import DEFAULT_FILE_KEY
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import EMAIL_SECRET, PASSCODE, outcome, post_email

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
MAILGUN_KEY = "key-" + uuid.uuid4().hex  # set as a team secret at run time, not from env
POSTMARK_PASSWORD = "pm-" + uuid.uuid4().hex


async def all_database_text(pool) -> dict[str, str]:
    """Every row of every table (our schemas), as text, keyed by table."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        dumped = {}
        for t in tables:
            name = f'"{t["schemaname"]}"."{t["tablename"]}"'
            rows = await conn.fetch(f"SELECT t::text AS row FROM {name} t")
            dumped[name] = "\n".join(r["row"] for r in rows)
    return dumped


def leaks(haystacks: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [
        f"{secret_name} in {where}"
        for where, text in haystacks.items()
        for secret_name, value in secrets.items()
        if value in text
    ]


async def test_no_secret_value_in_any_log_or_table_after_a_full_run(system):
    from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
    from figsync_runtime.teams import TeamRepository

    sandbox = system.sandbox
    secrets = {
        "email_webhook_secret": EMAIL_SECRET,
        "email_webhook_key": EMAIL_SECRET.removeprefix("whsec_"),
        "figma_webhook_passcode": PASSCODE,
        "figma_token": sandbox.figma_token,
        "notion_token": sandbox.notion_token,
        "anthropic_api_key": sandbox.anthropic_key,
        "mailgun_signing_key": MAILGUN_KEY,
        "postmark_password": POSTMARK_PASSWORD,
        "secret_key": DEVELOPMENT_KEY,
    }
    teams = TeamRepository(system.store, SecretBox(DEVELOPMENT_KEY))
    await teams.change(
        "default",
        {},
        secrets={"mailgun_signing_key": MAILGUN_KEY, "postmark_password": POSTMARK_PASSWORD},
        changed_by="security-suite",
    )
    # Debug logs everywhere: the most a process ever says.
    for process in system.processes.values():
        process.kill()
        process.env["FIGSYNC_LOG_LEVEL"] = "DEBUG"
        process.start(wait_ready=False)
    for process in system.processes.values():
        process.wait_ready(timeout=90)
    system.enable_webhooks()
    figma = sandbox.figma

    jobs = []
    ok = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith a normal comment")
    jobs.append(await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, ok.id)))
    # A permanent failure at notion (403 with the token in the request) and a retryable one
    # at figma that ends in JobFailed after its attempts, both logged.
    sandbox.notion.faults.inject("POST /v1/pages", status=401, times=1)
    bad = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith notion refuses this one")
    jobs.append(await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, bad.id)))
    sandbox.anthropic.faults.inject("POST /v1/messages", status=529, times=2)
    slow = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith the model is overloaded")
    jobs.append(await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, slow.id)))

    # Wrong credentials at the edge are logged as rejections: the offered values are not
    # secrets, but the configured ones must not be echoed next to them.
    async with httpx.AsyncClient(base_url=system.ingest) as http:
        assert (
            await http.post(
                "/v1/inbound/email", content=b"{}", headers={"content-type": "application/json"}
            )
        ).status_code == 401
        assert (
            await http.post(
                "/v1/inbound/figma",
                content=json.dumps({"event_type": "PING", "passcode": "nope"}).encode(),
                headers={"content-type": "application/json"},
            )
        ).status_code == 400
        mailgun = urlencode({"timestamp": "1", "token": "t" * 50, "signature": "0" * 64})
        response = await http.post(
            "/v1/inbound/mailgun",
            content=mailgun.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 401, response.text

    from figsync_contracts import comment_job_id

    jobs += [comment_job_id("default", DEFAULT_FILE_KEY, c.id) for c in (ok, bad, slow)]
    finals = await asyncio.gather(*(system.wait_for(j, DONE, timeout=120) for j in jobs))
    outcomes = [outcome(stream).type.split(".")[1] for stream in finals]
    assert "confirmation_posted" in outcomes and "job_failed" in outcomes, outcomes
    await asyncio.sleep(2)  # the webhooks' jobs and the logs settle

    logs = {name: process.logs() for name, process in system.processes.items()}
    assert all(logs.values()), "every process logged something"
    assert any('"level": "debug"' in text for text in logs.values()), "debug logging was on"
    database = await all_database_text(system.store.pool)
    assert "team_settings_changed" in database['"public"."events"'].lower() or any(
        "TeamSettingsChanged" in text for text in database.values()
    ), "the scan sees the events table"
    found = leaks(logs, secrets) + leaks(database, secrets)
    assert found == [], found
