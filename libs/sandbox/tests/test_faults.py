"""Fault injection is deterministic under a seed and controllable over HTTP and from Python."""

from __future__ import annotations

import httpx
import pytest

from figsync_sandbox import NOTION_VERSION
from figsync_sandbox.faults import FaultInjector, FaultRule, Latency


def run_sequence(injector: FaultInjector, n: int = 200) -> list:
    return [
        (d.rule.status if d.rule else None, round(d.delay_ms, 6))
        for d in (injector.decide("GET", f"/v1/x/{i % 3}") for i in range(n))
    ]


def seeded(seed: int) -> FaultInjector:
    injector = FaultInjector(seed)
    injector.inject("GET /v1/x/*", status=503, rate=0.3)
    injector.inject("GET /v1/x/1", status=429, rate=0.5, retry_after=3600)
    injector.inject("*", latency={"distribution": "uniform", "low_ms": 1, "high_ms": 50})
    return injector


def test_same_seed_gives_the_same_faults_and_latencies():
    assert run_sequence(seeded(7)) == run_sequence(seeded(7))
    assert run_sequence(seeded(7)) != run_sequence(seeded(8))
    statuses = {s for s, _ in run_sequence(seeded(7))}
    assert statuses == {None, 503, 429}


def test_reset_with_the_seed_replays_the_sequence():
    injector = seeded(11)
    first = run_sequence(injector, 50)
    injector.set_seed(11)
    assert run_sequence(injector, 50) == first


def test_times_limits_hits_and_routes_match_method_and_glob():
    injector = FaultInjector()
    injector.inject("POST /v1/pages", status=529, times=2)
    assert injector.decide("GET", "/v1/pages").rule is None
    assert [injector.decide("POST", "/v1/pages").is_error for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    "raw",
    [
        {"rate": 2},
        {"status": 200},
        {"bogus": 1},
        {"latency": {"distribution": "zipf"}},
        {"latency": "slow"},
        {"times": -1},
        "nope",
    ],
)
def test_bad_rules_are_refused_with_a_reason(raw):
    with pytest.raises(ValueError, match=r"faults\.bad_"):
        FaultRule.from_dict(raw)


def test_latency_distributions_are_never_negative():
    import random

    rng = random.Random(1)
    for latency in (
        Latency(ms=5),
        Latency("uniform", low_ms=1, high_ms=2),
        Latency("normal", ms=1, sigma_ms=10),
        Latency("exponential", ms=3),
    ):
        assert all(latency.draw(rng) >= 0 for _ in range(100))


async def notion_statuses(client: httpx.AsyncClient, n: int) -> list[int]:
    return [(await client.get("/v1/users/me")).status_code for _ in range(n)]


async def test_http_control_api_sets_seeded_faults_and_lists_requests(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    headers = {
        "Authorization": f"Bearer {sandbox_api.notion_token}",
        "Notion-Version": NOTION_VERSION,
    }
    rules = {"seed": 42, "rules": [{"route": "GET /v1/users/*", "status": 503, "rate": 0.5}]}
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url, headers=headers) as client:
        assert (await client.post("/_sandbox/faults", json=rules)).status_code == 200
        first = await notion_statuses(client, 30)
        assert (await client.post("/_sandbox/reset", json={"seed": 42})).status_code == 200
        # reset restores the default rate limit too; lift it again over HTTP.
        assert (await client.post("/_sandbox/config", json={"burst": 1000})).status_code == 200
        assert (await client.post("/_sandbox/faults", json=rules)).status_code == 200
        second = await notion_statuses(client, 30)
        assert first == second and set(first) == {200, 503}
        seen = (await client.get("/_sandbox/requests", params={"method": "GET"})).json()
        assert [r["status"] for r in seen["requests"]] == second
        assert seen["requests"][0]["headers"]["authorization"].startswith("***")
        assert all(r["fault"] in (None, "status:503") for r in seen["requests"])
        listed = (await client.get("/_sandbox/faults")).json()
        assert listed["seed"] == 42 and len(listed["history"]) == 30
        assert (await client.delete("/_sandbox/faults")).status_code == 200
        assert set(await notion_statuses(client, 3)) == {200}
        bad = await client.post("/_sandbox/config", json={"speed": 1})
        assert bad.status_code == 400


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"rules": [{"status": 99}]}', b'{"seed": "x"}', b'{"rules": [{"x": 1}]}'],
)
async def test_bad_control_requests_are_400_with_a_reason(sandbox_api, body):
    async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as client:
        resp = await client.post("/_sandbox/faults", content=body)
    assert resp.status_code == 400
    assert ":" in resp.json()["error"]


async def test_latency_injection_delays_answers(sandbox_api):
    sandbox_api.figma.faults.inject("GET /v1/me", latency=300)
    async with httpx.AsyncClient(
        base_url=sandbox_api.figma_url, headers={"X-Figma-Token": sandbox_api.figma_token}
    ) as client:
        resp = await client.get("/v1/me")
    assert resp.status_code == 200
    assert resp.elapsed.total_seconds() >= 0.29


async def test_timeout_fault_hangs_then_answers_504(sandbox_api):
    sandbox_api.figma.faults.inject("GET /v1/me", timeout=True, hang_seconds=0.2)
    async with httpx.AsyncClient(
        base_url=sandbox_api.figma_url, headers={"X-Figma-Token": sandbox_api.figma_token}
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/v1/me", timeout=0.05)
        resp = await client.get("/v1/me", timeout=5)
    assert resp.status_code == 504
    assert resp.json() == {"status": 504, "err": "Gateway timeout"}


async def test_seed_routes_create_data_over_http(sandbox_api):
    async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as figma:
        assert (
            await figma.post("/_sandbox/users", json={"handle": "Jo Doe-Smith"})
        ).status_code == 200
        resp = await figma.post("/_sandbox/files", json={"key": "NewFile123", "name": "Checkout"})
        assert resp.json()["url"] == "https://www.figma.com/design/NewFile123/Checkout"
        resp = await figma.post(
            "/_sandbox/files/NewFile123/comments",
            json={"message": "@Jo Doe-Smith check the totals", "author": "Maarten"},
        )
        assert resp.status_code == 200
        frags = sandbox_api.figma.comment("NewFile123", resp.json()["id"]).fragments
        assert frags[0]["mention"] == sandbox_api.figma.user("Jo Doe-Smith").id
        assert (await figma.post("/_sandbox/files", json={"key": "../x"})).status_code == 400
        bad = await figma.post("/_sandbox/files/nope/comments", json={"message": "x"})
        assert bad.status_code == 404
        state = (await figma.get("/_sandbox/state")).json()
        assert "NewFile123" in [f["key"] for f in state["files"]]
    async with httpx.AsyncClient(base_url=sandbox_api.notion_url) as notion:
        resp = await notion.post(
            "/_sandbox/databases", json={"title": "Bugs", "properties": {"Name": {"title": {}}}}
        )
        assert resp.status_code == 200
        ds = sandbox_api.notion.data_sources[resp.json()["data_source_id"]]
        assert list(ds.properties) == ["Name"]
        bad = await notion.post(
            "/_sandbox/databases", json={"title": "X", "properties": {"A": {"x": {}}}}
        )
        assert bad.status_code == 400
    sandbox_api.reset()
    assert "NewFile123" not in sandbox_api.figma.files
