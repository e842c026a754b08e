"""The figma step against the sandbox's Figma and a real event store."""

import functools
from datetime import UTC, datetime

import httpx
import pytest

from figsync_clients.figma import FigmaClient
from figsync_contracts import (
    CommentReceived,
    EmailReceived,
    ManualSyncRequested,
    comment_job_id,
    email_job_id,
    new_envelope,
)
from figsync_figma import handlers
from figsync_figma.bootstrap import build  # noqa: F401 - the wiring must import
from figsync_figma.links import LinkPolicy, resolve_tracking_link
from figsync_runtime.secrets import SecretBox, generate_key
from figsync_runtime.steps import Ack, RetryPolicy, Step, StepRunner
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID
from figsync_sandbox.emails import comment_email_message, render_comment_email

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(sandbox_api, event_store):
    teams = TeamRepository(event_store, SecretBox(generate_key()))
    await teams.change("acme", {"tracked_mentions": ["@Anna Smith", "@dev.team"]},
                       secrets={"figma_token": sandbox_api.figma_token})  # fmt: skip
    sandbox_api.figma.configure(tier2_per_minute=10_000)
    sandbox_api.figma.add_user("dev.team")
    host = sandbox_api.figma_url.removeprefix("http://")
    async with httpx.AsyncClient() as api_http, httpx.AsyncClient() as link_http:
        deps = handlers.Deps(
            figma=FigmaClient(api_http, sandbox_api.figma_url, requests_per_minute=60_000),
            teams=teams,
            resolve_link=functools.partial(
                resolve_tracking_link, http=link_http,
                policy=LinkPolicy(test_insecure_hosts=frozenset({host})),
            ),
        )  # fmt: skip
        step = Step("figma", consumes=[EmailReceived, CommentReceived],
                    produces=[], handle=functools.partial(handlers.on_event, deps=deps))  # fmt: skip
        sync = Step("sync", consumes=[ManualSyncRequested], produces=[],
                    handle=functools.partial(handlers.on_manual_sync, deps=deps))  # fmt: skip
        yield {
            "figma": sandbox_api.figma,
            "store": event_store,
            "runner": StepRunner(step, event_store, RetryPolicy(max_attempts=2)),
            "sync": StepRunner(sync, event_store, RetryPolicy(max_attempts=2)),
            "teams": teams,
            "click": sandbox_api.figma_url,
        }


async def deliver_email(w, message, sender=None):
    event = EmailReceived(
        transport="mime", message_id=message["Message-ID"],
        sender=sender if sender is not None else message["From"], recipients=[message["To"]],
        subject=message["Subject"], html=message.get_body(("html",)).get_content(),
        sent_at=datetime.now(UTC), received_at=datetime.now(UTC),
    )  # fmt: skip
    job = email_job_id("acme", event.message_id)
    envelope = new_envelope(event, stream_id=job, team="acme", source="/tests")
    await w["store"].append(job, [envelope], expected_version=0)
    decision = await w["runner"].process(envelope, attempt=1)
    return job, decision, (await w["store"].read_stream(job))[-1]


async def test_a_mention_email_becomes_the_whole_thread(world):
    w = world
    reply = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith the logo is too small",
                                   author="Maarten", parent_id=DEFAULT_ROOT_COMMENT_ID)  # fmt: skip
    message = comment_email_message(w["figma"], DEFAULT_FILE_KEY, reply.id, variant="reply")
    job, decision, last = await deliver_email(w, message)
    assert decision == Ack("handled")
    assert last.type == "figsync.thread_resolved.v1", last.data
    data = last.data
    assert data["file_key"] == DEFAULT_FILE_KEY and data["file_name"] == "Onboarding Flow"
    assert (data["comment_id"], data["root_comment_id"]) == (reply.id, DEFAULT_ROOT_COMMENT_ID)
    assert data["thread"][0]["comment_id"] == DEFAULT_ROOT_COMMENT_ID
    assert data["thread"][-1]["comment_id"] == reply.id
    assert data["mentions"] == ["@Anna Smith"]
    assert DEFAULT_FILE_KEY in data["file_url"]


async def test_all_comments_are_searched_not_just_the_first_ten(world):
    w = world
    for n in range(40):
        w["figma"].add_comment(DEFAULT_FILE_KEY, f"unrelated remark number {n} about colours")
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith please align the footer icons")
    job, _, last = await deliver_email(
        w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, target.id)
    )
    assert last.data["comment_id"] == target.id


async def test_near_duplicate_comments_are_told_apart_by_author_and_text(world):
    w = world
    w["figma"].add_user("Bob")
    a = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith fix the button padding", author="Bob")
    b = w["figma"].add_comment(
        DEFAULT_FILE_KEY, "@Anna Smith fix the button padding", author="Maarten"
    )
    c = w["figma"].add_comment(
        DEFAULT_FILE_KEY, "@Anna Smith fix the button paddings", author="Maarten"
    )
    for target in (a, c):
        message = comment_email_message(
            w["figma"], DEFAULT_FILE_KEY, target.id, to=f"{target.id}@x.y"
        )
        _, _, last = await deliver_email(w, message)
        assert last.data["comment_id"] == target.id
    assert b.id  # same text and author as c's near-twin: the newest wins ties


async def test_a_reply_email_without_a_tracked_mention_is_ignored(world):
    w = world
    reply = w["figma"].add_comment(DEFAULT_FILE_KEY, "thanks, looks good", author="Maarten",
                                   parent_id=DEFAULT_ROOT_COMMENT_ID)  # fmt: skip
    message = comment_email_message(w["figma"], DEFAULT_FILE_KEY, reply.id, variant="reply")
    _, decision, last = await deliver_email(w, message)
    assert decision == Ack("handled")
    assert (last.type, last.data["reason"]) == ("figsync.job_ignored.v1", "mention_not_tracked")


async def test_non_comment_mail_is_ignored_with_its_reason(world):
    w = world
    message = comment_email_message(w["figma"], DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    html = message.get_body(("html",)).get_content()
    html = html.replace("mentioned you in a comment", "invited you to edit").replace(
        "opacity:1", "x"
    )
    message.get_body(("html",)).set_content(html, subtype="html")
    _, _, last = await deliver_email(w, message)
    assert last.data["reason"] == "not_comment_email"


async def test_a_comment_that_is_not_in_the_file_fails_with_the_candidates(world):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith completely unique words here")
    message = comment_email_message(w["figma"], DEFAULT_FILE_KEY, target.id)
    w["figma"].files[DEFAULT_FILE_KEY].comments.remove(target)
    _, decision, last = await deliver_email(w, message)
    assert decision == Ack("failed")
    assert last.data["code"] == "figma.comment_not_found"
    assert last.data["context"]["candidates"]


async def test_a_sender_without_the_key_is_resolved_through_the_tracking_link(world):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@dev.team please check the link path")
    message = comment_email_message(w["figma"], DEFAULT_FILE_KEY, target.id,
                                    click_base_url=w["click"])  # fmt: skip
    _, _, last = await deliver_email(w, message, sender="forwarder@company.example")
    assert last.type == "figsync.thread_resolved.v1", last.data
    assert last.data["comment_id"] == target.id


async def test_the_same_comment_by_email_and_by_webhook_makes_one_job(world):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith one comment two paths")
    email_job, _, _ = await deliver_email(
        w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, target.id)
    )
    webhook = CommentReceived(origin="webhook", file_key=DEFAULT_FILE_KEY, comment_id=target.id,
                              text="@Anna Smith one comment two paths", mentions=["@Anna Smith"])  # fmt: skip
    job = comment_job_id("acme", DEFAULT_FILE_KEY, target.id)
    envelope = new_envelope(webhook, stream_id=job, team="acme", source="/tests")
    await w["store"].append(job, [envelope], expected_version=0)
    await w["runner"].process(envelope, attempt=1)
    last = (await w["store"].read_stream(job))[-1]
    assert (last.data["reason"], last.data["duplicate_of"]) == ("duplicate_comment", email_job)


async def test_a_webhook_for_a_new_top_level_comment_needs_no_read(world):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith a brand new thread")
    w["figma"].clear_requests()
    event = CommentReceived(
        origin="webhook", file_key=DEFAULT_FILE_KEY, file_name="Screens", comment_id=target.id,
        author_handle="Maarten", author_id=target.user.id, text="@Anna Smith a brand new thread",
        mentions=["@Anna Smith"], created_at=target.created_at,
    )  # fmt: skip
    job = comment_job_id("acme", DEFAULT_FILE_KEY, target.id)
    await w["store"].append(job, [new_envelope(event, stream_id=job, team="acme",
                                               source="/tests")], expected_version=0)  # fmt: skip
    await w["runner"].process((await w["store"].read_stream(job))[0].envelope(), attempt=1)
    last = (await w["store"].read_stream(job))[-1]
    assert last.type == "figsync.thread_resolved.v1", last.data
    assert [c["text"] for c in last.data["thread"]] == ["@Anna Smith a brand new thread"]
    assert last.data["root_comment_id"] == target.id
    path = f"/v1/files/{DEFAULT_FILE_KEY}/comments"
    assert w["figma"].requests("GET", path) == []  # the webhook carried the whole thread


async def test_a_webhook_comment_with_an_untracked_mention_is_ignored(world):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@testfigma not tracked")
    event = CommentReceived(origin="webhook", file_key=DEFAULT_FILE_KEY, comment_id=target.id,
                            text="@testfigma not tracked", mentions=["@testfigma"])  # fmt: skip
    job = comment_job_id("acme", DEFAULT_FILE_KEY, target.id)
    envelope = new_envelope(event, stream_id=job, team="acme", source="/tests")
    await w["store"].append(job, [envelope], expected_version=0)
    await w["runner"].process(envelope, attempt=1)
    assert (await w["store"].read_stream(job))[-1].data["reason"] == "mention_not_tracked"


async def test_a_long_retry_after_parks_the_job(world, sandbox_api):
    w = world
    target = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith rate limited")
    sandbox_api.figma.faults.inject(
        "GET /v1/files/*/comments", status=429, retry_after=7200, times=1
    )
    _, decision, last = await deliver_email(
        w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, target.id)
    )
    assert decision == Ack("deferred")
    assert (last.type, last.data["code"]) == ("figsync.job_deferred.v1", "figma.rate_limited")


async def test_manual_sync_starts_a_job_per_untracked_mention_once(world):
    w = world
    w["figma"].add_comment(DEFAULT_FILE_KEY, "@dev.team first")
    w["figma"].add_comment(DEFAULT_FILE_KEY, "@dev.team second")
    w["figma"].add_comment(DEFAULT_FILE_KEY, "@testfigma untracked")

    async def sync():
        request = new_envelope(ManualSyncRequested(file_key=DEFAULT_FILE_KEY),
                               stream_id=f"sync:acme:{datetime.now().timestamp()}", team="acme",
                               source="/tests")  # fmt: skip
        await w["store"].append(request.subject, [request], expected_version=0)
        await w["sync"].process(request, attempt=1)
        return (await w["store"].read_stream(request.subject))[-1].data

    first = await sync()
    # The seeded root mentions @Anna Smith too: three tracked comments in all.
    assert len(first["jobs_started"]) == 3
    assert (await sync())["jobs_started"] == []

    # With no tracked handles every mention counts: the untracked one starts its job too.
    await w["teams"].change("acme", {"tracked_mentions": []})
    [job] = (await sync())["jobs_started"]
    [received] = await w["store"].read_stream(job)
    assert received.data["mentions"] == ["@testfigma"]


def test_rendered_email_is_what_the_parser_reads(world):
    html = render_comment_email(world["figma"], DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    assert "comment" in html


async def test_figsyncs_own_confirmation_never_becomes_a_job(world, sandbox_api):
    w = world
    # The sandbox token's user is "figsync": a reply it posted that names a tracked handle.
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{sandbox_api.figma_url}/v1/files/{DEFAULT_FILE_KEY}/comments",
            headers={"X-Figma-Token": sandbox_api.figma_token},
            json={"message": "📋 Tracked in Notion: @Anna Smith task — https://notion.so/p",
                  "comment_id": DEFAULT_ROOT_COMMENT_ID},
        )  # fmt: skip
    own = response.json()
    event = CommentReceived(origin="webhook", file_key=DEFAULT_FILE_KEY, comment_id=own["id"],
                            text=own["message"], mentions=["@Anna Smith"],
                            author_id=own["user"]["id"], author_handle=own["user"]["handle"])  # fmt: skip
    job = comment_job_id("acme", DEFAULT_FILE_KEY, own["id"])
    envelope = new_envelope(event, stream_id=job, team="acme", source="/tests")
    await w["store"].append(job, [envelope], expected_version=0)
    await w["runner"].process(envelope, attempt=1)
    assert (await w["store"].read_stream(job))[-1].data["reason"] == "own_comment"


async def test_a_shared_read_older_than_the_comment_is_not_trusted_for_a_near_twin(
    world, sandbox_api, event_store
):
    from figsync_clients.budget import SharedBudgets
    from figsync_clients.cache import SharedCache

    w = world
    async with httpx.AsyncClient() as api_http:
        cached = FigmaClient(api_http, sandbox_api.figma_url, requests_per_minute=60_000,
                             budgets=SharedBudgets(event_store.pool),
                             cache=SharedCache(event_store.pool))  # fmt: skip
        deps = handlers.Deps(figma=cached, teams=w["teams"], resolve_link=_no_links,
                             comments_max_age=60)  # fmt: skip
        step = Step("figma", consumes=[EmailReceived, CommentReceived], produces=[],
                    handle=functools.partial(handlers.on_event, deps=deps))  # fmt: skip
        w = {**w, "runner": StepRunner(step, event_store, RetryPolicy(max_attempts=2))}
        first = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith burst item 1 needs a look")
        _, _, one = await deliver_email(
            w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, first.id)
        )
        assert one.data["comment_id"] == first.id
        # Made after the shared read: "item 10" is a near-twin of "item 1", which is in it.
        twin = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith burst item 10 needs a look")
        _, _, ten = await deliver_email(
            w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, twin.id)
        )
        assert ten.type == "figsync.thread_resolved.v1", ten.data
        assert ten.data["comment_id"] == twin.id
        # An exact match in the shared read needs no call at all.
        w["figma"].clear_requests()
        again = w["figma"].add_comment(DEFAULT_FILE_KEY, "@Anna Smith a different request")
        await deps.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY,
                            await w["teams"].get("acme"), fresh=True)  # fmt: skip
        w["figma"].clear_requests()
        _, _, exact = await deliver_email(
            w, comment_email_message(w["figma"], DEFAULT_FILE_KEY, again.id)
        )
        assert exact.data["comment_id"] == again.id
        assert w["figma"].requests("GET", f"/v1/files/{DEFAULT_FILE_KEY}/comments") == []


async def _no_links(link: str) -> str:
    raise AssertionError(f"no tracking link should be followed: {link}")
