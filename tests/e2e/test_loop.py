"""End to end: an email or a webhook becomes a Notion task and a reply in the Figma thread."""

import asyncio

import httpx
import pytest

from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import outcome, post_email

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}


async def test_the_email_path_reaches_a_confirmation(system):
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith please tighten the header spacing")
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, DONE)
    types = [e.type.split(".")[1] for e in stream]
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", types[-5:]
    for step in ("email_received", "thread_resolved", "summary_generated", "task_created"):
        assert step in types
    pages = system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)
    assert len(pages) == 1
    replies = [c for c in figma.posted_comments() if c.parent_id]
    assert len(replies) == 1 and replies[0].parent_id == comment.id


async def test_the_webhook_path_reaches_a_confirmation(system):
    from figsync_contracts import comment_job_id

    system.enable_webhooks()
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith webhook path check")
    job = comment_job_id("default", DEFAULT_FILE_KEY, comment.id)
    stream = await system.wait_for(job, DONE)
    assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data


async def test_the_same_comment_by_email_and_webhook_makes_one_task(system):
    system.enable_webhooks()
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith both paths at once")
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    await system.wait_for(job, DONE)

    def replies() -> list:
        return [c for c in figma.posted_comments() if c.parent_id == comment.id]

    # Whichever path claimed the comment replies; the other job ends ignored, maybe first.
    async with asyncio.timeout(60):
        while not replies():
            await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # time for a second page or reply, were there one
    assert len(system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 1
    assert len(replies()) == 1


@pytest.mark.parametrize(
    ("route_server", "route", "step"),
    [
        ("figma", "GET /v1/files/*/comments", "figma"),
        ("notion", "POST /v1/pages", "notion"),
        ("figma", "POST /v1/files/*/comments", "notifier"),
    ],
)
async def test_a_failure_at_a_step_ends_in_job_failed_and_a_retry_completes_it(
    system, route_server, route, step
):
    figma = system.sandbox.figma
    server = getattr(system.sandbox, route_server)
    server.faults.inject(route, status=403)
    comment = figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith failure at {step}")
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, {"job_failed"})
    failed = outcome(stream)
    assert failed.data["step"] == step, failed.data
    server.faults.clear()
    from figsync_projector.auth import issue_token

    token = await issue_token(system.store.pool, "default", "member", name="e2e")
    headers = {"authorization": f"Bearer {token.token}"}
    async with httpx.AsyncClient(headers=headers) as http:
        async with asyncio.timeout(30):
            while (
                await http.get(f"{system.projector}/api/teams/default/jobs/{job}")
            ).status_code != 200:
                await asyncio.sleep(0.2)
        response = await http.post(f"{system.projector}/api/teams/default/jobs/{job}/retry")
    assert response.status_code in (200, 202), response.text
    stream = await system.wait_for(job, {"confirmation_posted"})
    assert outcome(stream).type.split(".")[1] == "confirmation_posted"


async def test_a_burst_of_100_emails_all_complete(system):
    figma = system.sandbox.figma
    jobs = []
    for n in range(100):
        comment = figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith burst item {n} needs a look")
        jobs.append(
            await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
        )
    finals = await asyncio.gather(*(system.wait_for(job, DONE, timeout=180) for job in jobs))
    outcomes = [outcome(stream).type.split(".")[1] for stream in finals]
    assert outcomes.count("confirmation_posted") == 100, outcomes
    assert len(system.sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)) == 100


async def test_one_trace_per_job_across_every_process(system, otlp):
    figma = system.sandbox.figma
    comment = figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith trace me")
    job = await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, comment.id))
    stream = await system.wait_for(job, {"confirmation_posted"})
    trace_id = stream[0].metadata["traceparent"].split("-")[1]
    assert all(e.metadata["traceparent"].split("-")[1] == trace_id for e in stream)
    await asyncio.sleep(1.5)  # let every process export its batch
    spans = otlp.trace(trace_id)
    services = {s.service for s in spans}
    for name in ("ingest", "relay", "figma", "summarizer", "notion", "notifier"):
        assert f"figsync-{name}" in services, services
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 1, [s.name for s in roots]
    broken = [s.name for s in spans if s.parent_span_id and s.parent_span_id not in ids]
    assert not broken, broken
    consumers = [s for s in spans if s.kind == 5]  # SPAN_KIND_CONSUMER
    assert consumers and all(s.attributes.get("messaging.system") == "nats" for s in consumers)
    clients = [s for s in spans if s.kind == 3]  # SPAN_KIND_CLIENT: external calls
    # Every outside API the job called shows as a call: Figma (read, reply), Anthropic, Notion.
    callers = {s.service for s in clients}
    assert {"figsync-figma", "figsync-summarizer", "figsync-notion", "figsync-notifier"} <= callers
