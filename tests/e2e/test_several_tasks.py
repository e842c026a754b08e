"""End to end: a thread that asks for three separate things becomes three Notion pages and one
Figma reply listing the three links; a later reply in the thread updates those pages and adds
none. (The SIGKILL between two pages is services/notion/tests/test_several_tasks.py.)"""

import asyncio
import json

import pytest

from figsync_contracts import TaskCreated, comment_job_id
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import outcome, post_email

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
ASK = (
    "@Anna Smith three things before launch: 1) tighten the header spacing "
    "2) fix the signup button colour 3) review the onboarding copy"
)


async def test_three_requests_make_three_pages_and_one_reply_with_three_links(system):
    teams = TeamRepository(system.store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("default", {"max_tasks_per_thread": 3}, changed_by="test")
    await asyncio.sleep(2.2)  # the services' team settings cache (2 s)
    figma, notion = system.sandbox.figma, system.sandbox.notion
    comment = figma.add_comment(DEFAULT_FILE_KEY, ASK)
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, DONE)
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data

    pages = {p.plain()["Figsync ID"]: p for p in notion.created_pages(TASKS_DATA_SOURCE_ID)}
    assert sorted(pages) == [job, f"{job}#2", f"{job}#3"]
    assert [pages[k].plain()["Title"] for k in (job, f"{job}#2", f"{job}#3")] == [
        "tighten the header spacing", "fix the signup button colour",
        "review the onboarding copy",
    ]  # fmt: skip
    [created] = [TaskCreated.model_validate(e.data) for e in stream
                 if e.type == TaskCreated.type]  # fmt: skip
    urls = [created.url, *(p.url for p in created.pages)]
    users = figma.users
    [reply] = [c for c in figma.posted_comments() if c.parent_id == comment.id]
    text = reply.message(users)
    assert all(url in text for url in urls) and len(set(urls)) == 3
    assert "fix the signup button colour" in text

    # A reply in the thread: each page gets it, no page is added, no second reply.
    system.enable_webhooks()
    later = figma.add_comment(DEFAULT_FILE_KEY, "The teal is #0fa3b1", author="Maarten",
                              parent_id=comment.id)  # fmt: skip
    await system.wait_for(comment_job_id("default", DEFAULT_FILE_KEY, later.id), DONE)
    await system.wait_for(job, {"task_updated"})
    assert len(notion.created_pages(TASKS_DATA_SOURCE_ID)) == 3
    for page in pages.values():
        assert "The teal is #0fa3b1" in json.dumps(notion.page(page.id).children)
    await asyncio.sleep(1.5)
    assert len([c for c in figma.posted_comments() if c.parent_id == comment.id]) == 1
