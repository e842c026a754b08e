"""Nothing stalls: an oversized email, an event the transport refuses, a start before the
migration — none of them holds back the jobs after it (real processes, Postgres, NATS)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from figsync_contracts import EmailReceived, JobIgnored, new_envelope
from figsync_eventstore import PostgresEventStore, create_pool, migrate
from figsync_eventstore.relay import parked_events, redrive_parked
from figsync_sandbox import DEFAULT_FILE_KEY
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.pytest_plugin import fresh_database
from figsync_testkit.system import outcome, post_email, signed

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}


async def test_an_oversized_email_is_refused_at_the_door_and_the_next_one_is_confirmed(system):
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith a comment with a huge email")
    message = comment_email_message(figma, DEFAULT_FILE_KEY, comment.id)
    html = message.get_body(("html",)).get_content()
    # 1.8 MiB: under the ingest's 2 MiB body limit, over what NATS carries in one message.
    message.get_body(("html",)).set_content(
        html.replace("</body>", "<!--" + "x" * (1_800_000 - len(html)) + "--></body>"),
        subtype="html",
    )
    body = message.as_bytes()
    assert 1_700_000 < len(body) < 2 * 1024 * 1024
    async with httpx.AsyncClient() as http:
        refused = await http.post(
            f"{system.ingest}/v1/inbound/email/mime", content=body,
            headers={"content-type": "message/rfc822", **signed(body)}, timeout=30,
        )  # fmt: skip
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "ingest.event_too_large"
    assert "FIGSYNC_MAX_EVENT_BYTES" in error["message"]

    normal = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith the next, normal comment")
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, normal.id))
    stream = await system.wait_for(job, DONE)
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data


def huge_email(job: str) -> object:
    return new_envelope(
        EmailReceived(
            transport="json", message_id=f"<{job}@x>", sender="comments-K@email.figma.com",
            recipients=["a@b.c"], subject="s",
            # Random text: sealed (compressed, then encrypted) it stays larger than NATS takes.
            html="<p>" + secrets.token_urlsafe(1_100_000) + "</p>",
            received_at=datetime.now(UTC),
        ),
        stream_id=job, team="default", source="/tests",
    )  # fmt: skip


async def published_ids(nats_url: str) -> set[str]:
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info("FIGSYNC")
        except nats.js.errors.NotFoundError:
            return set()
        if not info.state.messages:
            return set()
        return {
            (await js.get_msg("FIGSYNC", seq)).headers["Nats-Msg-Id"]
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        }
    finally:
        await nc.close()


async def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_an_event_nats_cannot_carry_is_parked_and_the_events_after_it_flow(
    spawn, event_store, pg_pool, nats_url
):
    # Appended past every door (an older ingest, a direct write): the relay must not stall.
    stuck = huge_email("job-huge")
    await event_store.append(stuck.subject, [stuck], expected_version=0)
    after = new_envelope(
        JobIgnored(reason="mention_not_tracked"), stream_id="job-after", team="default",
        source="/tests",
    )  # fmt: skip
    await event_store.append(after.subject, [after], expected_version=0)
    relay = spawn("figsync_runtime.relay_main")

    published = await eventually(
        lambda: _containing(published_ids(nats_url), {after.id}), timeout=30
    )
    assert stuck.id not in published
    [parked] = await parked_events(pg_pool)
    assert (parked.event_id, parked.code) == (stuck.id, "relay.event_too_large")
    # The job says why it stopped, with the fix, and that report is published too.
    failed = (await event_store.read_stream("job-huge"))[-1]
    assert failed.type.split(".")[1] == "job_failed"
    assert failed.data["code"] == "relay.event_too_large"
    assert "figsync relay redrive" in failed.data["message"]
    await eventually(lambda: _containing(published_ids(nats_url), {failed.event_id}))
    metrics = (await fetch(f"{relay.url}/metrics")).text
    assert "figsync_relay_parked_events 1.0" in metrics
    assert "figsync_relay_lag_events 0.0" in metrics
    assert (await fetch(f"{relay.url}/readyz")).status_code == 200
    assert "relay parked an event" in relay.logs()

    # Re-driving while the cause remains keeps it parked and says why.
    import nats

    nc = await nats.connect(nats_url)
    try:
        from figsync_eventstore.jetstream import StreamSettings

        outcome = await redrive_parked(pg_pool, nc, StreamSettings())
    finally:
        await nc.close()
    assert "MaxPayload" in outcome[parked.position] or "payload" in outcome[parked.position]
    assert [p.position for p in await parked_events(pg_pool)] == [parked.position]


async def _containing(found, wanted: set[str]):
    ids = await found
    return ids if wanted <= ids else None


async def test_processes_started_before_the_migration_start_working_once_it_runs(
    spawn, postgres_url, nats_url
):
    async with fresh_database(postgres_url, "template0") as empty:
        relay = spawn("figsync_runtime.relay_main", wait_ready=False, FIGSYNC_DATABASE_URL=empty)
        consumer = spawn("figsync_summarizer.main", wait_ready=False, FIGSYNC_DATABASE_URL=empty)
        for process in (relay, consumer):
            await eventually(lambda p=process: _answers(p, "/healthz", 200))
            assert (await fetch(f"{process.url}/readyz")).status_code == 503
        await asyncio.sleep(2)
        assert relay.process.poll() is None and consumer.process.poll() is None
        assert "figsync migrate" in relay.logs()
        async with httpx.AsyncClient() as http:  # anything else: come back shortly, not a 404
            early = await http.post(f"{consumer.url}/v1/anything", json={}, timeout=5)
        assert early.status_code == 503 and early.headers["retry-after"] == "2"
        assert early.json()["error"]["code"] == "service.starting"

        await migrate(empty)
        for process in (relay, consumer):
            await eventually(lambda p=process: _answers(p, "/readyz", 200), timeout=60)
        pool = await create_pool(empty, max_size=2)
        try:
            event = new_envelope(
                JobIgnored(reason="mention_not_tracked"), stream_id=f"job-{uuid.uuid4()}",
                team="default", source="/tests",
            )  # fmt: skip
            await PostgresEventStore(pool).append(event.subject, [event], expected_version=0)
            await eventually(lambda: _containing(published_ids(nats_url), {event.id}))
        finally:
            await pool.close()
        relay.kill()
        consumer.kill()


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url, timeout=5)


async def _answers(process, path: str, status: int) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{process.url}{path}", timeout=1)).status_code == status
    except httpx.HTTPError:
        return False


async def test_a_relay_that_loses_its_tables_reports_not_ready_and_says_why(
    spawn, database_url, nats_url
):
    relay = spawn("figsync_runtime.relay_main")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ALTER TABLE cursors RENAME TO cursors_gone")
        await eventually(lambda: _answers(relay, "/readyz", 503), timeout=30)
        assert "relay.schema_missing" in relay.logs()
        await conn.execute("ALTER TABLE cursors_gone RENAME TO cursors")
        await eventually(lambda: _answers(relay, "/readyz", 200), timeout=30)
    finally:
        await conn.close()


async def test_figsync_relay_redrive_publishes_a_parked_event_once_its_cause_is_fixed(
    event_store, pg_pool, database_url, nats_url
):
    import subprocess
    import sys

    event = new_envelope(
        JobIgnored(reason="mention_not_tracked"), stream_id="job-refused", team="default",
        source="/tests",
    )  # fmt: skip
    [position] = (await event_store.append(event.subject, [event], expected_version=0)).positions
    # Parked earlier (the stream refused it then); the cause has since been fixed.
    await pg_pool.execute(
        """INSERT INTO relay_parked (position, event_id, stream_id, type, code, error)
           VALUES ($1, $2::uuid, $3, $4, 'relay.stream_refused', 'message size exceeds')""",
        position, event.id, event.subject, event.type,
    )  # fmt: skip
    env = {"FIGSYNC_DATABASE_URL": database_url, "FIGSYNC_NATS_URL": nats_url}

    def figsync(*args: str) -> subprocess.CompletedProcess:
        import os

        return subprocess.run(
            [sys.executable, "-m", "figsync_cli.main", *args], capture_output=True, text=True,
            timeout=60, env={**os.environ, **env},
        )  # fmt: skip

    listed = await asyncio.to_thread(figsync, "relay", "parked")
    assert listed.returncode == 0 and "relay.stream_refused" in listed.stdout, listed.stderr
    redriven = await asyncio.to_thread(figsync, "relay", "redrive")
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert f"{position}\tpublished" in redriven.stdout
    assert event.id in await published_ids(nats_url)
    assert await parked_events(pg_pool) == []
    again = await asyncio.to_thread(figsync, "relay", "redrive")
    assert "no parked events" in again.stdout


async def test_while_postgres_is_down_the_ingest_answers_503_and_accepts_after(
    spawn, postgres_server, sandbox_api
):
    if postgres_server is None:
        pytest.skip("needs the embedded Postgres to stop and start it")
    from figsync_testkit.system import EMAIL_SECRET

    ingest = spawn("figsync_ingest.main", FIGSYNC_EMAIL_WEBHOOK_SECRET=EMAIL_SECRET)
    figma = sandbox_api.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith sent while the store is down")
    body = comment_email_message(figma, DEFAULT_FILE_KEY, comment.id).as_bytes()

    async def send() -> httpx.Response:
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"{ingest.url}/v1/inbound/email/mime", content=body,
                headers={"content-type": "message/rfc822", **signed(body)}, timeout=30,
            )  # fmt: skip

    postgres_server.stop()
    try:
        refused = await send()
    finally:
        postgres_server.start()
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "ingest.store_unavailable"
    assert refused.headers["retry-after"] == "5"
    assert "Exception in ASGI application" not in ingest.logs()
    accepted = await eventually(lambda: _accepted(send), timeout=60)
    assert accepted.status_code == 202


async def _accepted(send):
    response = await send()
    return response if response.status_code == 202 else None
