"""The figma service as a process: an email in the store becomes a resolved thread."""

import asyncio
from datetime import UTC, datetime

import pytest

from figsync_contracts import EmailReceived, email_job_id, new_envelope
from figsync_sandbox import DEFAULT_FILE_KEY
from figsync_sandbox.emails import comment_email_message

pytestmark = pytest.mark.e2e


async def test_the_service_resolves_an_email_end_to_end(spawn, sandbox_api, event_store):
    sandbox_api.figma.configure(tier2_per_minute=10_000)
    env = {
        "FIGSYNC_FIGMA_API_URL": sandbox_api.figma_url,
        "FIGMA_API_TOKEN": sandbox_api.figma_token,
        "FIGSYNC_TRACKED_MENTIONS": "@Anna Smith",
    }
    spawn("figsync_runtime.relay_main", FIGSYNC_RELAY_POLL_INTERVAL_SECONDS="0.2")
    service = spawn("figsync_figma.main", **env)
    target = sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith make the CTA bigger")
    message = comment_email_message(sandbox_api.figma, DEFAULT_FILE_KEY, target.id)
    event = EmailReceived(
        transport="mime", message_id=message["Message-ID"], sender=message["From"],
        recipients=["a@b.c"], subject=message["Subject"],
        html=message.get_body(("html",)).get_content(), received_at=datetime.now(UTC),
    )  # fmt: skip
    job = email_job_id("default", event.message_id)
    await event_store.append(
        job, [new_envelope(event, stream_id=job, team="default", source="/tests")], 0
    )
    async with asyncio.timeout(30):
        while len(stream := await event_store.read_stream(job)) < 2:
            await asyncio.sleep(0.2)
    assert stream[-1].type == "figsync.thread_resolved.v1", (
        stream[-1].data,
        service.logs()[-2000:],
    )
    assert stream[-1].data["comment_id"] == target.id
