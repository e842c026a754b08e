"""A service's own life: a background loop that dies is reported and restarted, and SIGTERM
under a backlog stops within the grace, losing and repeating nothing (real processes)."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time

import httpx
import pytest

from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import outcome, post_email

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url, timeout=5)


async def test_a_background_loop_that_dies_is_logged_restarted_and_reported_not_ready(
    spawn, tmp_path
):
    (tmp_path / "dying_service.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            from figsync_runtime.service import Wiring, run
            from figsync_runtime.settings import RuntimeSettings, load_settings

            async def steady(stop):
                await stop.wait()

            async def flaky(stop):
                await asyncio.sleep(0.2)
                raise RuntimeError("the loop broke")

            async def build(resources):
                return Wiring(tasks=[steady, flaky])

            run("dying", load_settings(RuntimeSettings), build)
            """
        )
    )
    service = spawn("dying_service", wait_ready=False, PYTHONPATH=str(tmp_path))
    deadline = time.monotonic() + 30
    while True:
        try:
            ready = await fetch(f"{service.url}/readyz")
            if ready.status_code == 503 and ready.json()["checks"].get("tasks") is False:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, service.logs()[-3000:]
        await asyncio.sleep(0.2)
    assert ready.json()["checks"]["postgres"] is True
    await asyncio.sleep(2.5)  # restarted after 1 s, dies again
    metrics = (await fetch(f"{service.url}/metrics")).text
    restarts = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('figsync_background_task_restarts_total{task="flaky"}')
    ]
    assert restarts and restarts[0] >= 2, metrics[-2000:]
    died = [json.loads(line) for line in service.logs().splitlines() if "task died" in line]
    assert died and died[0]["task"] == "flaky" and "the loop broke" in died[0]["error"]
    assert service.process.poll() is None


async def test_sigterm_under_a_backlog_stops_within_the_grace_and_loses_nothing(system):
    figma = system.sandbox.figma
    # Slow Notion and Figma answers keep steps in flight when the stop comes.
    system.sandbox.notion.faults.inject("POST /v1/pages", latency=800)
    figma.faults.inject("POST /v1/files/*/comments", latency=800)
    comments = [
        figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith backlog item {n}") for n in range(24)
    ]
    jobs = [
        await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, c.id))
        for c in comments
    ]
    await asyncio.sleep(3)
    grace = 10.0  # FIGSYNC_SHUTDOWN_GRACE_SECONDS' default
    for name in ("notion", "notifier", "figma"):
        process = system.processes[name]
        started = time.monotonic()
        code = await asyncio.to_thread(process.stop, grace + 15)
        took = time.monotonic() - started
        assert code == 0, process.logs()[-3000:]
        assert took < grace + 5, f"{name} took {took:.1f}s to stop"
        logs = process.logs()
        assert "Traceback" not in logs and "CancelledError" not in logs, logs[-3000:]
    for name in ("notion", "notifier", "figma"):
        system.processes[name].start()
    for job in jobs:
        stream = await system.wait_for(job, DONE, timeout=180)
        assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data
    pages = system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert len(pages) == len(jobs)
    replies = [c for c in figma.posted_comments() if c.parent_id]
    assert sorted(r.parent_id for r in replies) == sorted(c.id for c in comments)
