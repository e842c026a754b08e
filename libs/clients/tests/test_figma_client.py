import httpx
import pytest

from figsync_clients.figma import FigmaClient
from figsync_clients.resilience import CircuitBreakers, CircuitOpen, parse_retry_after
from figsync_runtime.errors import PermanentError, RetryableError
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


async def test_429_is_retryable_with_its_retry_after(figma, sandbox_api):
    sandbox_api.figma.faults.inject(
        "GET /v1/files/*/comments", status=429, retry_after=7200, times=1
    )
    with pytest.raises(RetryableError) as limited:
        await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
    assert limited.value.code == "figma.rate_limited"
    assert limited.value.retry_after == 7200


async def test_repeated_5xx_open_the_circuit_for_that_token_only(sandbox_api):
    async with httpx.AsyncClient(timeout=2.0) as http:
        figma = FigmaClient(http, sandbox_api.figma_url, requests_per_minute=6000,
                            breakers=CircuitBreakers("figma", threshold=3, reset_after=60))  # fmt: skip
        sandbox_api.figma.faults.inject("GET /v1/files/*/comments", status=503, times=3)
        for _ in range(3):
            with pytest.raises(RetryableError, match="figma.unavailable"):
                await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
        with pytest.raises(CircuitOpen) as open_circuit:
            await figma.comments(sandbox_api.figma_token, DEFAULT_FILE_KEY)
        assert open_circuit.value.code == "figma.circuit_open"
        assert 0 < open_circuit.value.retry_after <= 60
        calls = len(sandbox_api.figma.requests("GET", f"/v1/files/{DEFAULT_FILE_KEY}/comments"))
        assert calls == 3, "no call while the circuit is open"
        with pytest.raises(PermanentError):  # another token has its own circuit
            await figma.comments("figd_other-token", DEFAULT_FILE_KEY)


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
