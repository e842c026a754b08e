"""The confirmation reply in the Figma thread: once per job, whatever happens around it."""

import httpx
import pytest
from notifier_support import TASK_URL, TITLE, seed_task_created, teams

from figsync_clients.figma import FigmaClient
from figsync_contracts import ConfirmationPosted, ConfirmationSkipped, EffectIntended, JobFailed
from figsync_notifier.bootstrap import confirmation_step
from figsync_notifier.handlers import Confirmer
from figsync_runtime import StepRunner
from figsync_runtime.steps import Ack, Redeliver, RetryPolicy
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands in for the process dying right after Figma accepted the reply."""


@pytest.fixture
async def wire(event_store, sandbox_api):
    """The confirmation step as bootstrap builds it, against the sandbox and this database."""
    repo = teams(event_store)
    await repo.change(
        "default", {"name": "Default"}, secrets={"figma_token": sandbox_api.figma_token}
    )
    async with httpx.AsyncClient(timeout=5) as http:
        figma = FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000)

        def runner(after_reply=lambda: None) -> StepRunner:
            step = confirmation_step(Confirmer(figma, repo, after_reply=after_reply))
            return StepRunner(step, event_store, RetryPolicy(base_delay=0.01))

        yield runner, repo


def types(history):
    return [e.type for e in history]


async def test_the_reply_goes_to_the_thread_root_with_title_and_link_once_under_redelivery(
    wire, event_store, sandbox_api
):
    runner, _ = wire
    task = await seed_task_created(event_store)
    assert await runner().process(task, attempt=1) == Ack("handled")
    for attempt in (2, 3):
        assert await runner().process(task, attempt=attempt) == Ack("already done")

    posted = sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)
    assert len(posted) == 1
    assert posted[0].parent_id == DEFAULT_ROOT_COMMENT_ID
    assert (
        posted[0].message(sandbox_api.figma.users) == f"📋 Tracked in Notion: {TITLE} — {TASK_URL}"
    )
    history = await event_store.read_stream(task.subject)
    confirmations = [e for e in history if e.type == ConfirmationPosted.type]
    assert [c.data for c in confirmations] == [{"comment_id": posted[0].id, "reused": False}]
    assert types(history).count(EffectIntended.type) == 1


async def test_a_retry_after_the_reply_was_posted_reuses_it_instead_of_posting_again(
    wire, event_store, sandbox_api
):
    runner, _ = wire
    task = await seed_task_created(event_store)

    def crash() -> None:
        raise Crash("died after Figma accepted the reply")

    assert isinstance(await runner(after_reply=crash).process(task, attempt=1), Redeliver)
    assert await runner().process(task, attempt=2) == Ack("handled")

    posted = sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)
    assert len(posted) == 1
    history = await event_store.read_stream(task.subject)
    confirmation = next(e for e in history if e.type == ConfirmationPosted.type)
    assert confirmation.data == {"comment_id": posted[0].id, "reused": True}


async def test_a_retry_after_an_intent_whose_post_failed_posts_once(wire, event_store, sandbox_api):
    runner, _ = wire
    task = await seed_task_created(event_store)
    sandbox_api.figma.faults.inject("POST /v1/files/*/comments", status=500, times=1)

    first = await runner().process(task, attempt=1)
    assert isinstance(first, Redeliver) and first.code == "figma.unavailable"
    assert await runner().process(task, attempt=2) == Ack("handled")

    assert len(sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)) == 1
    history = await event_store.read_stream(task.subject)
    confirmation = next(e for e in history if e.type == ConfirmationPosted.type)
    assert confirmation.data["reused"] is False


async def test_a_reply_in_the_thread_without_the_task_link_is_not_taken_for_ours(
    wire, event_store, sandbox_api
):
    runner, _ = wire
    task = await seed_task_created(event_store)
    sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, "Looks good", author="Anna Smith",
                                  parent_id=DEFAULT_ROOT_COMMENT_ID, emit=False)  # fmt: skip
    sandbox_api.figma.faults.inject("POST /v1/files/*/comments", status=503, times=1)
    assert isinstance(await runner().process(task, attempt=1), Redeliver)
    assert await runner().process(task, attempt=2) == Ack("handled")
    assert len(sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)) == 1


async def test_a_team_that_turned_confirmations_off_gets_no_reply_and_it_is_recorded(
    wire, event_store, sandbox_api
):
    runner, repo = wire
    await repo.change("default", {"confirmations_enabled": False})
    task = await seed_task_created(event_store)
    assert await runner().process(task, attempt=1) == Ack("handled")
    assert await runner().process(task, attempt=2) == Ack("already done")

    assert sandbox_api.figma.posted_comments() == []
    assert sandbox_api.figma.requests("POST", f"/v1/files/{DEFAULT_FILE_KEY}/comments") == []
    history = await event_store.read_stream(task.subject)
    assert [e.data for e in history if e.type == ConfirmationSkipped.type] == [
        {"reason": "confirmations_disabled"}
    ]
    assert ConfirmationPosted.type not in types(history)


async def test_the_team_template_is_used_and_cannot_reach_into_python_objects(
    wire, event_store, sandbox_api
):
    runner, repo = wire
    await repo.change(
        "default",
        {"confirmation_template": "Tracked “{title}” in {file_name} {url.__class__} {0} {{x}}"},
    )
    task = await seed_task_created(event_store)
    assert await runner().process(task, attempt=1) == Ack("handled")
    [posted] = sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)
    assert posted.message(sandbox_api.figma.users) == (
        f"Tracked “{TITLE}” in Onboarding Flow {{url.__class__}} {{0}} {{x}} {TASK_URL}"
    )


async def test_a_long_template_with_several_tasks_falls_back_to_the_default_and_lists_them(
    wire, event_store, sandbox_api
):
    """The team's template fills Figma's 5000 characters on its own; with four more task lines
    the reply would be refused, so the default template carries the link and every line."""
    runner, repo = wire
    await repo.change("default", {"confirmation_template": "{url} " * 60})
    task = await seed_task_created(event_store, others=4)
    assert await runner().process(task, attempt=1) == Ack("handled")
    [posted] = sandbox_api.figma.posted_comments(DEFAULT_FILE_KEY)
    message = posted.message(sandbox_api.figma.users)
    assert len(message) <= 5000
    lines = message.splitlines()
    assert lines[0] == f"📋 Tracked in Notion: {TITLE} — {TASK_URL}"
    assert lines[1:] == [f"• Task number {i} — {TASK_URL}-{i}" for i in range(1, 5)]


async def test_a_team_without_a_figma_token_fails_the_job_with_a_clear_code(
    wire, event_store, sandbox_api
):
    runner, repo = wire
    task = await seed_task_created(event_store, team="design")
    await repo.change("design", {"name": "Design"})
    assert await runner().process(task, attempt=1) == Ack("failed")
    history = await event_store.read_stream(task.subject)
    failed = next(e for e in history if e.type == JobFailed.type)
    assert (failed.data["step"], failed.data["code"]) == ("notifier", "figma.unauthorized")
    assert sandbox_api.figma.posted_comments() == []


async def test_turning_confirmations_off_after_a_reply_was_posted_still_records_that_reply(
    wire, event_store, sandbox_api
):
    runner, repo = wire
    task = await seed_task_created(event_store)

    def crash() -> None:
        raise Crash("died after Figma accepted the reply")

    assert isinstance(await runner(after_reply=crash).process(task, attempt=1), Redeliver)
    await repo.change("default", {"confirmations_enabled": False})
    assert await runner().process(task, attempt=2) == Ack("handled")
    history = await event_store.read_stream(task.subject)
    assert ConfirmationSkipped.type not in types(history)
    confirmation = next(e for e in history if e.type == ConfirmationPosted.type)
    assert confirmation.data["reused"] is True
