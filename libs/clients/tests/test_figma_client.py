import asyncio
import contextlib

import httpx
import pytest

from figsync_clients.budget import SharedBudgets
from figsync_clients.cache import SharedCache
from figsync_clients.figma import FigmaClient, tier2_per_minute
from figsync_clients.resilience import CircuitBreakers, CircuitOpen, parse_retry_after
from figsync_eventstore import create_pool
from figsync_runtime.errors import PermanentError, RetryableError, WaitError
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID

pytestmark = pytest.mark.integration


@pytest.fixture
async def figma(sandbox_api):
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000)


async def test_all_comments_of_a_file_are_read(figma, sandbox_api):
    for n in range(30):
        sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, f"comment {n}")
    comments = await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
    assert len(comments) >= 32
    root = next(c for c in comments if c.id == DEFAULT_ROOT_COMMENT_ID)
    assert root.is_root and root.user.handle
    assert all(c.parent_id != "" for c in comments)


async def test_a_reply_is_posted_to_the_root(figma, sandbox_api):
    posted = await figma.post_comment(
        sandbox_api.figma_token, DEFAULT_FILE_KEY, "Task: https://notion.so/x",
        reply_to=DEFAULT_ROOT_COMMENT_ID,
    )  # fmt: skip
    assert posted.parent_id == DEFAULT_ROOT_COMMENT_ID
    assert [c.fragments for c in sandbox_api.figma.posted_comments()] == [
        [{"text": "Task: https://notion.so/x"}]
    ]


async def test_errors_have_stable_codes(figma, sandbox_api):
    with pytest.raises(PermanentError) as refused:
        await figma.comments("figd_wrong-token", DEFAULT_FILE_KEY)
    assert refused.value.code == "figma.unauthorized"
    with pytest.raises(PermanentError) as missing:
        await figma.comments(sandbox_api.figma_token, "NoSuchFileKey123")
    assert missing.value.code == "figma.file_not_found"
    with pytest.raises(PermanentError) as no_token:
        await figma.comments("", DEFAULT_FILE_KEY)
    assert no_token.value.code == "figma.unauthorized"


async def test_a_429_is_a_wait_with_its_retry_after_not_a_failure(figma, sandbox_api):
    sandbox_api.figma.faults.inject(
        "GET /v1/files/*/comments", status=429, retry_after=7200, times=1
    )
    with pytest.raises(WaitError) as limited:
        await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
    assert limited.value.code == "figma.rate_limited"
    assert limited.value.retry_after == 7200
    # Whoever calls next with this token waits it out first (the step then parks the job).
    with pytest.raises(WaitError, match="figma.budget_exhausted"):
        await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
    assert len(sandbox_api.figma.requests("GET", f"/v1/files/{DEFAULT_FILE_KEY}/comments")) == 1


async def test_repeated_5xx_open_the_circuit_for_that_token_in_every_replica(
    sandbox_api, database_url
):
    pools = [await create_pool(database_url, max_size=2) for _ in range(2)]
    async with httpx.AsyncClient(timeout=2.0) as http:
        one, two = (
            FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000,
                        budgets=SharedBudgets(pool, breaker_threshold=3, breaker_reset=60))
            for pool in pools
        )  # fmt: skip
        sandbox_api.figma.faults.inject("GET /v1/files/*/comments", status=503, times=3)
        for _ in range(3):
            with pytest.raises(RetryableError, match="figma.unavailable"):
                await one.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
        with pytest.raises(CircuitOpen) as open_circuit:  # the other replica sees it open
            await two.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
        assert open_circuit.value.code == "figma.circuit_open"
        assert 0 < open_circuit.value.retry_after <= 60
        calls = len(sandbox_api.figma.requests("GET", f"/v1/files/{DEFAULT_FILE_KEY}/comments"))
        assert calls == 3, "no call while the circuit is open"
        with pytest.raises(PermanentError):  # another token has its own circuit
            await two.comments("figd_other-token", DEFAULT_FILE_KEY)
    for pool in pools:
        await pool.close()


async def test_replicas_reading_one_file_at_once_share_one_call(sandbox_api, database_url):
    pools = [await create_pool(database_url, max_size=3) for _ in range(3)]
    async with httpx.AsyncClient(timeout=5.0) as http:
        replicas = [
            FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000,
                        budgets=SharedBudgets(pool), cache=SharedCache(pool))
            for pool in pools
        ]  # fmt: skip
        sandbox_api.figma.faults.inject("GET /v1/files/*/comments", latency=300, times=1)
        read = [r.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY, max_age=10) for r in replicas]
        answers = await asyncio.gather(*(read * 3))
        assert len({tuple(c.id for c in a) for a in answers}) == 1
        path = f"/v1/files/{DEFAULT_FILE_KEY}/comments"
        assert len(sandbox_api.figma.requests("GET", path)) == 1
        # A comment made after that read: a fresh read finds it and refreshes the shared one.
        new = sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith a later comment")
        fresh = await replicas[0].comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
        assert new.id in {c.id for c in fresh}
        shared = await replicas[2].comments(sandbox_api.figma_token, DEFAULT_FILE_KEY, max_age=10)
        assert new.id in {c.id for c in shared}
        assert len(sandbox_api.figma.requests("GET", path)) == 2
    for pool in pools:
        await pool.close()


async def test_a_hanging_figma_is_a_retryable_timeout(sandbox_api):
    async with httpx.AsyncClient(timeout=0.3) as http:
        figma = FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000)
        sandbox_api.figma.faults.inject("GET /v1/me", latency={"ms": 2000}, times=1)
        with pytest.raises(RetryableError) as slow:
            await figma.me(sandbox_api.figma_token)
    assert slow.value.code == "figma.timeout"


def test_the_half_open_circuit_lets_one_trial_call_through():
    now = [0.0]
    breakers = CircuitBreakers("x", threshold=2, reset_after=10, clock=lambda: now[0])
    breakers.failure("k")
    breakers.failure("k")
    with pytest.raises(CircuitOpen):
        breakers.check("k")
    now[0] = 11
    breakers.check("k")
    assert breakers.state("k") == "half_open"
    breakers.failure("k")
    assert breakers.state("k") == "open"
    now[0] = 30
    breakers.check("k")
    breakers.success("k")
    assert breakers.state("k") == "closed"


def test_retry_after_accepts_seconds_and_http_dates():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 25 Nov 2026 14:00:00 GMT", now) == 7200
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_the_figma_budget_follows_the_published_tier_2_table():
    assert tier2_per_minute("starter", "full") == 5
    assert tier2_per_minute("professional", "full") == 25
    assert tier2_per_minute("professional", "dev") == 25
    assert tier2_per_minute("organization", "full") == 50
    assert tier2_per_minute("enterprise", "dev") == 100
    for plan in ("starter", "professional", "organization", "enterprise"):
        assert tier2_per_minute(plan, "view") == tier2_per_minute(plan, "collab") == 5


async def test_reactions_are_left_taken_back_and_read_across_pages(figma, sandbox_api):
    token, state = sandbox_api.figma_token, sandbox_api.figma
    for n in range(30):  # more than one page of reactions (the sandbox pages by 25)
        state.add_user(f"Reactor {n}")
        state.add_reaction(DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":heart:", f"Reactor {n}")
    await figma.react(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":eyes:")
    reactions = await figma.reactions(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    assert len(reactions) == 31
    me = await figma.me(token)
    assert [r.emoji for r in reactions if r.user.id == me.id] == [":eyes:"]
    await figma.react(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":eyes:", remove=True)
    reactions = await figma.reactions(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID)
    assert [r for r in reactions if r.user.id == me.id] == []
    with pytest.raises(PermanentError) as bad:
        await figma.react(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, "eyes")
    assert bad.value.code == "figma.bad_request"


async def test_a_reaction_steps_aside_while_a_reply_waits_for_the_budget(sandbox_api, database_url):
    """On a small plan a reaction takes only a slot that is free now: while a reply has queued
    for the next one, the reaction waits (WaitError) and Figma sees no call from it."""
    token, path = sandbox_api.figma_token, f"/v1/files/{DEFAULT_FILE_KEY}/comments"
    pool = await create_pool(database_url, max_size=2)
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            figma = FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6,
                                budgets=SharedBudgets(pool, max_wait=60))  # fmt: skip
            await figma.react(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":eyes:")  # idle
            reply = asyncio.create_task(
                figma.post_comment(
                    token, DEFAULT_FILE_KEY, "done", reply_to=DEFAULT_ROOT_COMMENT_ID
                )
            )  # queues ~10 s for its slot
            await asyncio.sleep(0.5)
            with pytest.raises(WaitError) as waiting:
                await figma.react(token, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, ":tada:")
            assert waiting.value.code == "figma.budget_exhausted"
            reactions = [c for c in sandbox_api.figma.reaction_calls if c["changed"]]
            assert [c["emoji"] for c in reactions] == [":eyes:"]
            reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply
            assert not sandbox_api.figma.requests("POST", path)
    finally:
        await pool.close()
