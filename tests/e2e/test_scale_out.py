"""Scale out without losing work: three replicas of every consumer against a Figma that
enforces its Tier-2 limit per token and a Notion that enforces 3 requests/s, a burst of
emails over three files, one replica of each service SIGKILLed mid-burst. One budget per
credential for all replicas: every job completes, no duplicates, no 429s, about one Figma
call per job."""

from __future__ import annotations

import asyncio
import time

import pytest

from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import System, outcome, post_email, system_env

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
CONSUMERS = ["figma", "summarizer", "notion", "notifier"]
FIGMA_PER_MINUTE = 100  # Enterprise plan, Full seat: Figma's Tier 2 for the comment endpoints
JOBS = 60
FILES = ["ScaleFileA0000000000001", "ScaleFileB0000000000002", "ScaleFileC0000000000003"]


async def test_three_replicas_share_one_budget_per_credential_through_kills(
    spawn, sandbox_api, event_store, otlp
):
    figma, notion = sandbox_api.figma, sandbox_api.notion
    figma.configure(tier2_per_minute=FIGMA_PER_MINUTE, tier3_per_minute=FIGMA_PER_MINUTE)
    notion.configure(rate_per_second=3.0, burst=10)
    env = system_env(sandbox_api, otlp.url)
    for lifted in ("FIGSYNC_FIGMA_REQUESTS_PER_MINUTE", "FIGSYNC_NOTION_REQUESTS_PER_SECOND"):
        env.pop(lifted)
    env.update({"FIGSYNC_FIGMA_PLAN": "enterprise", "FIGSYNC_FIGMA_SEAT": "full"})
    # This test measures the pipeline's reads and replies per job; the reactions of the
    # thread's lifecycle (up to three Tier-2 calls more per job) have their own tests.
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("default", {"reactions_enabled": False}, changed_by="test")

    processes = {
        "relay": spawn("figsync_runtime.relay_main", wait_ready=False, **env),
        "relay#2": spawn("figsync_runtime.relay_main", wait_ready=False, **env),
        "ingest": spawn("figsync_ingest.main", wait_ready=False, **env),
    }
    for name in CONSUMERS:
        for replica in (1, 2, 3):
            processes[f"{name}#{replica}"] = spawn(f"figsync_{name}.main", wait_ready=False, **env)
    for process in processes.values():
        await asyncio.to_thread(process.wait_ready, 90)

    for key in FILES:
        figma.add_file(key, f"Screens {key[9]}")
    comments = [
        (key, figma.add_comment(key, f"@Anna Smith burst item {n} on {key[9]}"))
        for n in range(JOBS // len(FILES))
        for key in FILES
    ]
    figma.clear_requests()
    notion.clear_requests()
    system = System(processes, event_store, sandbox_api)
    started = time.monotonic()
    jobs = []
    for n, (key, comment) in enumerate(comments):
        jobs.append(await post_email(system, comment_email_message(figma, key, comment.id)))
        if n == JOBS // 3:  # mid-burst: one replica of each consumer dies without a word
            for name in CONSUMERS:
                processes[f"{name}#1"].kill()

    outcomes = [await system.wait_for(job, DONE, timeout=420) for job in jobs]
    wall = time.monotonic() - started
    ends = [outcome(stream) for stream in outcomes]
    failed = [(e.stream_id, e.data) for e in ends if e.type.split(".")[1] != "confirmation_posted"]
    assert not failed, failed[:5]

    pages = notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert len(pages) == JOBS
    assert len({p.plain()["Figsync ID"] for p in pages}) == JOBS, "one page per job"
    replies = [c for c in figma.posted_comments() if c.parent_id]
    assert sorted(r.parent_id for r in replies) == sorted(c.id for _, c in comments)

    figma_calls = figma.requests()
    figma_429 = [r for r in figma_calls if r.status == 429]
    notion_429 = [r for r in notion.requests() if r.status == 429]
    per_job = len(figma_calls) / JOBS
    bound = JOBS / (FIGMA_PER_MINUTE / 60)
    print(
        f"\n{JOBS} jobs, 3 replicas each, one of each SIGKILLed: {len(figma_calls)} Figma calls "
        f"({per_job:.2f}/job), Figma 429s {len(figma_429)}, Notion 429s {len(notion_429)}, "
        f"wall {wall:.0f}s (the budget's bound for the replies alone: {bound:.0f}s)"
    )
    assert figma_429 == [] and notion_429 == []
    assert per_job <= 1.2
