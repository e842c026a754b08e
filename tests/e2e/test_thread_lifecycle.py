"""End to end: the Notion task and the Figma thread stay in step, both ways.

Over the processes and the sandbox: reactions on the comment (👀 then ✅), a reply updating
the same task, done in Notion by signed webhook and by polling (one reply, the reaction),
resolving in Figma setting the task done, a lost email found by reconcile, forged and
replayed Notion webhooks refused, and every effect once through a SIGKILL and redelivery.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from figsync_contracts import comment_job_id
from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_sandbox.figma import BOT_USER_ID
from figsync_testkit.system import (
    lift_sandbox_limits,
    outcome,
    post_email,
    start_system,
    system_env,
)

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
VERIFICATION = "secret_lifecycle-e2e-verification-token"


def lifecycle_env(sandbox, otlp_url: str, **overrides: str) -> dict[str, str]:
    env = system_env(sandbox, otlp_url)
    env.update(
        {
            "FIGSYNC_RECONCILE_INTERVAL_SECONDS": "0",
            "FIGSYNC_NOTION_POLL_INTERVAL_SECONDS": "0",
            "FIGSYNC_THREAD_UPDATE_COALESCE_SECONDS": "1",
            **overrides,
        }
    )
    return env


@pytest.fixture
def start(spawn, sandbox_api, event_store, otlp):
    """Start the whole system with lifecycle settings: `start(FIGSYNC_...="2")`."""
    lift_sandbox_limits(sandbox_api)

    def _start(**overrides: str):
        env = lifecycle_env(sandbox_api, otlp.url, **overrides)
        return start_system(spawn, sandbox_api, event_store, env)

    return _start


def bot_reactions(figma, comment_id: str) -> set[str]:
    comment = figma.comment(DEFAULT_FILE_KEY, comment_id).to_api(figma.users)
    return {r["emoji"] for r in comment["reactions"] if r["user"]["id"] == BOT_USER_ID}


def changes(figma, comment_id: str) -> list[tuple[str, str]]:
    return [
        (c["method"], c["emoji"])
        for c in figma.reaction_calls
        if c["comment_id"] == comment_id and c["changed"]
    ]


def bot_replies(figma, root_id: str) -> list:
    return [c for c in figma.posted_comments() if c.parent_id == root_id]


async def until(check, timeout: float = 60, every: float = 0.2):
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(every)
    return result


async def first_task(system, text: str) -> tuple[str, str, object]:
    """A new comment by email through to its confirmation: (job, page id, comment)."""
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, text, emit=False)
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, DONE)
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data
    created = next(e for e in stream if e.type.split(".")[1] == "task_created")
    return job, created.data["page_id"], comment


def types_of(stream) -> list[str]:
    return [e.type.split(".")[1] for e in stream]


async def until_count(system, job: str, event: str, count: int, timeout: float = 60) -> list:
    """The job's events once `event` is in them `count` times."""
    async with asyncio.timeout(timeout):
        while types_of(stream := await system.store.read_stream(job)).count(event) < count:
            await asyncio.sleep(0.2)
    return stream


async def subscribe_notion(system, on_api_changes: bool = True) -> None:
    """The Notion webhook subscription to figsync's ingest, verified by the handshake."""
    async with httpx.AsyncClient(base_url=system.sandbox.notion_url) as control:
        subscribed = await control.post(
            "/_sandbox/webhooks",
            json={"url": f"{system.ingest}/v1/inbound/notion", "verification_token": VERIFICATION,
                  "on_api_changes": on_api_changes, "retry_delays": [0.2]},
        )  # fmt: skip
        assert subscribed.status_code == 200, subscribed.text
        handshake = await control.post("/_sandbox/webhooks/verify")
        assert handshake.json()["status"] == 200, handshake.text


async def set_status(system, page_id: str, status: str) -> str | None:
    async with httpx.AsyncClient(base_url=system.sandbox.notion_url) as control:
        changed = await control.post(f"/_sandbox/pages/{page_id}/status", json={"status": status})
    assert changed.status_code == 200, changed.text
    return changed.json()["event_id"]


async def test_reactions_then_a_reply_updates_the_same_task(start):
    system = start()
    figma, notion = system.sandbox.figma, system.sandbox.notion
    # The model takes its time, as real ones do: 👀 shows while the summary is written.
    system.sandbox.anthropic.faults.inject("POST /v1/messages", latency=3.0, times=1)
    job, page_id, comment = await first_task(system, "@Anna Smith please tighten the header")
    await until(lambda: bot_reactions(figma, comment.id) == {":white_check_mark:"})
    # 👀 when figsync took it, then ✅ once the task existed: each change made once.
    assert changes(figma, comment.id) == [
        ("POST", ":eyes:"), ("POST", ":white_check_mark:"), ("DELETE", ":eyes:")
    ]  # fmt: skip

    # A reply without a tracked mention, by webhook: the same page, no second reply.
    system.enable_webhooks()
    reply = figma.add_comment(
        DEFAULT_FILE_KEY, "Also the footer needs the new logo", author="Maarten",
        parent_id=comment.id,
    )  # fmt: skip
    reply_job = comment_job_id("default", DEFAULT_FILE_KEY, reply.id)
    reply_stream = await system.wait_for(reply_job, DONE)
    ended = outcome(reply_stream)
    assert ended.data["reason"] == "thread_update", ended.data
    assert ended.data["duplicate_of"] == job
    stream = await system.wait_for(job, {"task_updated"})
    assert types_of(stream).count("summary_refreshed") == 1
    updated = next(e for e in stream if e.type.split(".")[1] == "task_updated")
    assert updated.data["comments_added"] == [reply.id]
    assert len(notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1
    body = json.dumps(notion.page(page_id).children)
    assert "Also the footer needs the new logo" in body
    await asyncio.sleep(1.5)
    assert len(bot_replies(figma, comment.id)) == 1  # the confirmation only
    assert types_of(await system.store.read_stream(job)).count("task_updated") == 1

    # A later reply that mentions the tracked person again arrives as Figma's email: the same
    # task is updated, not a second one made.
    again = figma.add_comment(
        DEFAULT_FILE_KEY, "@Anna Smith and the button label too", author="Maarten",
        parent_id=comment.id, emit=False,
    )  # fmt: skip
    email_job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, again.id))
    ended = outcome(await system.wait_for(email_job, DONE))
    assert (ended.data["reason"], ended.data["duplicate_of"]) == ("thread_update", job), ended.data
    stream = await until_count(system, job, "task_updated", 2)
    second = [e for e in stream if e.type.split(".")[1] == "task_updated"][1]
    assert second.data["comments_added"] == [again.id]
    assert len(notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1
    assert "and the button label too" in json.dumps(notion.page(page_id).children)
    assert len(bot_replies(figma, comment.id)) == 1


async def test_replies_within_seconds_are_one_refresh_and_one_page_update(start):
    system = start(FIGSYNC_THREAD_UPDATE_COALESCE_SECONDS="3")
    figma = system.sandbox.figma
    job, page_id, comment = await first_task(system, "@Anna Smith the onboarding copy")
    system.enable_webhooks()
    replies = [
        figma.add_comment(
            DEFAULT_FILE_KEY, f"Point {n} about the copy", author="Maarten", parent_id=comment.id
        )  # fmt: skip
        for n in range(3)
    ]
    await system.wait_for(job, {"task_updated"})
    await asyncio.sleep(4)
    stream = await system.store.read_stream(job)
    assert types_of(stream).count("thread_updated") >= 1
    assert types_of(stream).count("summary_refreshed") == 1, types_of(stream)
    [updated] = [e for e in stream if e.type.split(".")[1] == "task_updated"]
    assert sorted(updated.data["comments_added"]) == sorted(r.id for r in replies)


async def test_done_in_notion_by_signed_webhook_tells_the_thread_once(start):
    system = start()
    figma = system.sandbox.figma
    await subscribe_notion(system)
    job, page_id, comment = await first_task(system, "@Anna Smith ship the new icon set")
    event_id = await set_status(system, page_id, "Done")
    stream = await system.wait_for(job, {"thread_notified"})
    changed = [e for e in stream if e.type.split(".")[1] == "task_status_changed"]
    assert [(e.data["status"], e.data["done"], e.data["origin"]) for e in changed] == [
        ("Done", True, "notion_webhook")
    ]
    await until(lambda: ":tada:" in bot_reactions(figma, comment.id))
    done = [c for c in bot_replies(figma, comment.id) if "Done in Notion" in c.message(figma.users)]
    assert len(done) == 1

    # The same event again is a replay: refused, nothing more happens.
    async with httpx.AsyncClient(base_url=system.sandbox.notion_url) as control:
        replayed = await control.post("/_sandbox/webhooks/replay", json={"event_id": event_id})
        assert replayed.json()["status"] == 409, replayed.text
        forged = await control.post(
            "/_sandbox/webhooks/send",
            json={"body": {"id": "forged-1", "type": "page.properties_updated"},
                  "signature": "sha256=" + "0" * 64},
        )  # fmt: skip
        assert forged.json()["status"] == 401, forged.text

    # Back out of done: one short note, the reaction taken back.
    await set_status(system, page_id, "In progress")
    await until(lambda: ":tada:" not in bot_reactions(figma, comment.id))
    stream = await system.wait_for(job, {"thread_notified"})
    await until(lambda: len(bot_replies(figma, comment.id)) == 3)
    await asyncio.sleep(2)
    notes = [c.message(figma.users) for c in bot_replies(figma, comment.id)]
    assert sum("Done in Notion" in n for n in notes) == 1
    assert sum("Reopened in Notion" in n for n in notes) == 1
    assert len(notes) == 3, notes

    # The dashboard: the token to paste into Notion shown once; the job page tells the story.
    from figsync_projector.auth import issue_token

    token = await issue_token(system.store.pool, "default", "admin", name="e2e")
    async with httpx.AsyncClient(base_url=system.projector) as site:
        signed = await site.post("/signin", data={"token": token.token, "next": ""})
        assert signed.status_code == 303, signed.text
        first = (await site.get("/t/default/inbound")).text
        assert VERIFICATION in first and 'id="notion-token"' in first
        again = (await site.get("/t/default/inbound")).text
        assert VERIFICATION not in again and 'id="notion-token-state"' in again
        page = await until_page(site, f"/t/default/jobs/{job}", "reopened")
        assert 'id="task-status"' in page and "In progress" in page
        for shown in ("Status in Notion", "Told the Figma thread", "Reaction"):
            assert shown in page, shown


async def until_page(site: httpx.AsyncClient, path: str, text: str) -> str:
    """The page once the projector has caught up enough to show `text`."""
    async with asyncio.timeout(30):
        while text not in (page := (await site.get(path)).text):
            await asyncio.sleep(0.3)
    return page


async def test_done_in_notion_by_polling_with_webhooks_off(start):
    system = start(FIGSYNC_NOTION_POLL_INTERVAL_SECONDS="1")
    figma = system.sandbox.figma
    job, page_id, comment = await first_task(system, "@Anna Smith polish the empty states")
    await set_status(system, page_id, "Done")
    stream = await system.wait_for(job, {"thread_notified"}, timeout=60)
    [changed] = [e for e in stream if e.type.split(".")[1] == "task_status_changed"]
    assert changed.data["origin"] == "notion_poll"
    await asyncio.sleep(3)  # more polls see the same page: nothing new
    stream = await system.store.read_stream(job)
    assert types_of(stream).count("task_status_changed") == 1
    assert types_of(stream).count("thread_notified") == 1
    assert (
        sum("Done in Notion" in c.message(figma.users) for c in bot_replies(figma, comment.id)) == 1
    )


async def test_resolving_the_root_in_figma_sets_the_task_done_without_an_echo(start):
    system = start(FIGSYNC_RECONCILE_INTERVAL_SECONDS="2")
    figma, notion = system.sandbox.figma, system.sandbox.notion
    await subscribe_notion(system, on_api_changes=True)  # figsync's own change comes back
    job, page_id, comment = await first_task(system, "@Anna Smith align the grid")
    figma.resolve_comment(DEFAULT_FILE_KEY, comment.id)
    stream = await system.wait_for(job, {"task_status_changed"}, timeout=30)
    [changed] = [e for e in stream if e.type.split(".")[1] == "task_status_changed"]
    assert (changed.data["status"], changed.data["origin"]) == ("Done", "figsync")
    assert notion.page(page_id).plain()["Status"] == "Done"
    await asyncio.sleep(5)  # the webhook of figsync's own change, and more reconciles
    stream = await system.store.read_stream(job)
    assert types_of(stream).count("task_status_changed") == 1
    assert types_of(stream).count("figma_thread_closed") == 1
    assert "thread_notified" not in types_of(stream)
    assert len(bot_replies(figma, comment.id)) == 1


async def test_a_mention_whose_email_was_lost_is_found_by_reconcile(start, event_store):
    system = start(FIGSYNC_RECONCILE_INTERVAL_SECONDS="2", FIGSYNC_RECONCILE_GRACE_SECONDS="1")
    figma = system.sandbox.figma
    # The file is tracked because one of its threads has a task.
    await first_task(system, "@Anna Smith first thread of the file")
    lost = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith this email never came", emit=False)
    job = comment_job_id("default", DEFAULT_FILE_KEY, lost.id)
    stream = await system.wait_for(job, DONE, timeout=60)
    assert stream[0].data["origin"] == "reconcile"
    assert outcome(stream).type.split(".")[1] == "confirmation_posted"
    pages = system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert [p.plain()["Figsync ID"] for p in pages].count(job) == 1
    # Found again by later reconciles, it starts nothing more.
    await asyncio.sleep(5)
    assert len(system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)) == len(pages)


async def test_every_effect_once_through_a_sigkill_of_the_notifier(start):
    system = start(FIGSYNC_NOTION_POLL_INTERVAL_SECONDS="1")
    figma = system.sandbox.figma
    comments = [
        figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith item {n} of the burst", emit=False)
        for n in range(6)
    ]
    jobs = [
        await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, c.id))
        for c in comments
    ]
    # Kill the notifier as soon as it has reacted to anything, then bring it back.
    await until(lambda: any(c["changed"] for c in figma.reaction_calls), timeout=60, every=0.02)
    system.processes["notifier"].kill()
    system.processes["notifier"].start()
    finals = await asyncio.gather(*(system.wait_for(j, DONE, timeout=120) for j in jobs))
    assert all(outcome(s).type.split(".")[1] == "confirmation_posted" for s in finals)
    pages = {
        job: next(e.data["page_id"] for e in s if e.type.split(".")[1] == "task_created")
        for job, s in zip(jobs, finals, strict=True)
    }
    for page in pages.values():
        await set_status(system, page, "Done")
    for job in jobs:
        await system.wait_for(job, {"thread_notified"}, timeout=60)
    for c in comments:
        await until(lambda c=c: bot_reactions(figma, c.id) == {":white_check_mark:", ":tada:"})
    await asyncio.sleep(2)
    for c in comments:
        made = Counter(changes(figma, c.id))
        assert all(n == 1 for n in made.values()), made
        notes = [r.message(figma.users) for r in bot_replies(figma, c.id)]
        assert sum("Done in Notion" in n for n in notes) == 1, notes
        assert len(notes) == 2, notes  # the confirmation and the done note


async def test_thread_updates_once_through_a_sigkill_of_the_notion_service(start):
    system = start()
    figma, notion = system.sandbox.figma, system.sandbox.notion
    firsts = [await first_task(system, f"@Anna Smith screen {n} needs work") for n in range(3)]
    system.enable_webhooks()
    replies = {
        job: figma.add_comment(
            DEFAULT_FILE_KEY,
            f"Reply {n}: use the darker blue",
            author="Maarten",
            parent_id=comment.id,
        )  # fmt: skip
        for n, (job, _, comment) in enumerate(firsts)
    }

    def appending() -> bool:
        return any("Reply" in json.dumps(notion.page(page).children) for _, page, _ in firsts)

    # The notion service dies as soon as it has appended to a page, before saying so.
    await until(appending, timeout=60, every=0.01)
    system.processes["notion"].kill()
    system.processes["notion"].start()
    for job, page, _ in firsts:
        stream = await system.wait_for(job, {"task_updated"}, timeout=90)
        assert types_of(stream).count("task_updated") == 1
        link = f"comment={replies[job].id}#"
        blocks = [b for b in notion.page(page).children if link in json.dumps(b)]
        assert len(blocks) == 1, "each reply appended once"
    assert len(notion.created_pages(TASKS_DATA_SOURCE_ID)) == 3
    assert all(len(bot_replies(figma, comment.id)) == 1 for _, _, comment in firsts)


async def test_a_failed_job_shows_x_and_a_successful_retry_swaps_it_back(start):
    system = start()
    figma = system.sandbox.figma
    system.sandbox.notion.faults.inject("POST /v1/pages", status=403)
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith this one fails first", emit=False)
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    await system.wait_for(job, {"job_failed"})
    await until(lambda: bot_reactions(figma, comment.id) == {":x:"})
    system.sandbox.notion.faults.clear()
    from figsync_projector.auth import issue_token

    token = await issue_token(system.store.pool, "default", "member", name="e2e")
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token.token}"}) as http:
        async with asyncio.timeout(30):
            url = f"{system.projector}/api/teams/default/jobs/{job}"
            while (await http.get(url)).status_code != 200:
                await asyncio.sleep(0.2)
        assert (await http.post(f"{url}/retry")).status_code in (200, 202)
    await system.wait_for(job, {"confirmation_posted"})
    await until(lambda: bot_reactions(figma, comment.id) == {":white_check_mark:"})
    made = Counter(changes(figma, comment.id))
    assert made[("POST", ":x:")] == 1 and made[("DELETE", ":x:")] == 1, made
    assert all(n == 1 for n in made.values()), made
