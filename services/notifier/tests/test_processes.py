"""The notifier as a process, fed by the relay: a crash right after the Figma reply, and Slack
hanging while jobs go on."""

import asyncio
import time

import pytest
from notifier_support import append, seed_task_created, teams

from figsync_contracts import AlertFailed, ConfirmationPosted, EffectIntended, JobFailed
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_REPLY_COMMENT_ID

pytestmark = pytest.mark.e2e


def notifier_env(sandbox_api, **extra: str) -> dict[str, str]:
    return {
        "FIGSYNC_FIGMA_API_URL": sandbox_api.figma_url,
        "FIGMA_API_TOKEN": sandbox_api.figma_token,
        "FIGSYNC_FIGMA_REQUESTS_PER_MINUTE": "6000",
        "FIGSYNC_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        # A killed notifier's step lease frees in seconds, not the production 15.
        "FIGSYNC_STEP_LEASE_SECONDS": "5",
        **extra,
    }


async def wait_for(store, job_id: str, event_type: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in await store.read_stream(job_id) if e.type == event_type]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {event_type} in job {job_id} within {timeout}s")


async def test_killed_right_after_the_figma_reply_the_restarted_notifier_posts_no_second_one(
    spawn, sandbox_api, event_store, tmp_path
):
    marker = tmp_path / "replied"
    env = notifier_env(
        sandbox_api,
        FIGSYNC_ACK_WAIT_SECONDS="2",
        FIGSYNC_TESTKIT_NOTIFIER_HANG_AFTER_REPLY=str(marker),
    )
    spawn("figsync_runtime.relay_main", FIGSYNC_RELAY_POLL_INTERVAL_SECONDS="0.2")
    notifier = spawn("figsync_notifier.main", **env)
    task = await seed_task_created(event_store)

    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline, f"no reply posted:\n{notifier.logs()[-3000:]}"
        await asyncio.sleep(0.05)
    notifier.kill()
    assert len(sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)) == 1
    history = await event_store.read_stream(task.subject)
    assert EffectIntended.type in [e.type for e in history]
    assert ConfirmationPosted.type not in [e.type for e in history]

    restarted = spawn("figsync_notifier.main", **env)
    [confirmation] = await wait_for(event_store, task.subject, ConfirmationPosted.type)
    [reply] = sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)
    assert confirmation.data == {"comment_id": reply.id, "reused": True}
    await asyncio.sleep(2.5)  # past another ack wait: nothing more may be posted
    assert len(sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)) == 1
    assert restarted.process.poll() is None


async def test_slack_hanging_leaves_the_failed_job_as_it_was_and_confirmations_flowing(
    spawn, sandbox_api, event_store, slack
):
    slack.mode = "hang"
    await teams(event_store).change("default", {}, secrets={"slack_webhook_url": slack.url})
    spawn("figsync_runtime.relay_main", FIGSYNC_RELAY_POLL_INTERVAL_SECONDS="0.2")
    spawn(
        "figsync_notifier.main",
        **notifier_env(
            sandbox_api,
            FIGSYNC_TESTKIT_INSECURE_HOSTS=slack.netloc,
            FIGSYNC_SLACK_TIMEOUT_SECONDS="1",
            FIGSYNC_ALERT_ATTEMPTS="2",
            FIGSYNC_RETRY_BASE_DELAY_SECONDS="0.2",
        ),
    )
    broken = await seed_task_created(event_store)
    await wait_for(event_store, broken.subject, ConfirmationPosted.type)
    failed = JobFailed(step="notion", code="notion.unavailable", message="503", attempts=5)
    await append(event_store, broken.subject, failed, "default", broken)
    started = time.monotonic()
    other = await seed_task_created(
        event_store, comment_id=DEFAULT_REPLY_COMMENT_ID, url="https://www.notion.so/other-1"
    )

    await wait_for(event_store, other.subject, ConfirmationPosted.type)
    assert time.monotonic() - started < 5
    [alert_failed] = await wait_for(event_store, broken.subject, AlertFailed.type)
    assert (alert_failed.data["code"], alert_failed.data["attempts"]) == ("slack.timeout", 2)
    history = await event_store.read_stream(broken.subject)
    # The thread-sync step's reactions (❌ for the failure) interleave; the alert follows it.
    job_types = [
        e.type for e in history if e.metadata.get("source") != "/services/notifier/thread-sync"
    ]
    assert job_types[-2:] == [JobFailed.type, AlertFailed.type]
    assert [e.data["step"] for e in history if e.type == JobFailed.type] == ["notion"]
    assert slack.texts == []
