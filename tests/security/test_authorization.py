"""The authorization matrix of the projector's API: role x team x route.

No credential is 401; another team's routes (and unknown teams) are 404 as if absent; a member
reads and runs commands on its own team; only an admin changes settings, secrets and tokens.
A refused request appends nothing. Settings answers never carry secret values."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from figsync_contracts import EmailReceived, JobFailed, email_job_id, new_envelope
from figsync_eventstore import PostgresEventStore
from figsync_projector.api import create_app
from figsync_projector.feed import ChangeFeed
from figsync_projector.projection import Projection
from figsync_projector.views import Views
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

HAS_AUTH = "auth" in inspect.signature(create_app).parameters
needs_auth = pytest.mark.skipif(
    not HAS_AUTH,
    reason="missing feature: team API tokens with roles member/admin (issue 10)",
)
SLACK_SECRET = "https://hooks.slack.example/services/T000/B000/" + uuid.uuid4().hex


async def failed_job(store: PostgresEventStore, team: str) -> str:
    message_id = f"{uuid.uuid4().hex}@email.figma.com"
    job = email_job_id(team, message_id)
    received = new_envelope(
        EmailReceived(
            transport="json", message_id=message_id, sender="comments-AbC@email.figma.com",
            recipients=["you@example.com"], subject="s", html="<p>x</p>",
            received_at=datetime.now(UTC),
        ),
        stream_id=job, team=team, source="/tests",
    )  # fmt: skip
    await store.append(job, [received], expected_version=0)
    failed = new_envelope(
        JobFailed(step="figma", code="figma.unavailable", message="down", attempts=5),
        stream_id=job, team=team, source="/tests", causation=received,
    )  # fmt: skip
    await store.append(job, [failed], expected_version=1)
    return job


@dataclass
class Api:
    client: httpx.AsyncClient
    store: PostgresEventStore
    jobs: dict[str, str]
    tokens: dict[str, str]  # "alpha-admin", "alpha-member", "beta-admin", ...
    token_ids: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(module_pool) -> AsyncIterator[Api]:
    if not HAS_AUTH:
        pytest.skip("missing feature: team API tokens (issue 10)")
    from figsync_projector.auth import Authenticator, issue_token

    store = PostgresEventStore(module_pool)
    teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
    issued: dict[str, str] = {}
    ids: dict[str, str] = {}
    for team in ("alpha", "beta"):
        await teams.change(
            team, {"tracked_mentions": ["@Anna Smith"]}, secrets={"slack_webhook_url": SLACK_SECRET}
        )
        for role in ("admin", "member"):
            token = await issue_token(module_pool, team, role, name=f"{team}-{role}")
            issued[f"{team}-{role}"], ids[f"{team}-{role}"] = token.token, token.token_id
    jobs = {team: await failed_job(store, team) for team in ("alpha", "beta")}
    projection = Projection(store, notify=False)
    while await projection.apply_batch():
        pass
    auth = Authenticator(module_pool, csrf_key=b"k" * 32)
    app = create_app(Views(module_pool), store, ChangeFeed(None), auth=auth, teams=teams)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as client:
        yield Api(client, store, jobs, issued, ids)


# (method, route, body, needs admin)
ROUTES = [
    ("GET", "/stats", None, False),
    ("GET", "/jobs", None, False),
    ("GET", "/jobs/{job}", None, False),
    ("GET", "/metrics/daily", None, False),
    ("GET", "/errors", None, False),
    ("GET", "/costs", None, False),
    ("GET", "/settings", None, False),
    ("POST", "/jobs/{job}/retry", None, False),
    ("POST", "/sync", {"file_key": "Xk3pQ9dLm2RtV8bNc4HsZa"}, False),
    ("PATCH", "/settings", {"ai_enabled": False}, True),
    ("PUT", "/secrets", {"slack_webhook_url": "https://hooks.slack.example/x"}, True),
    ("POST", "/settings/notion-check", {}, True),
    ("POST", "/settings/ai-preview", {"draft": {"ai_instructions": "Be brief."}}, True),
    ("GET", "/tokens", None, True),
    ("POST", "/tokens", {"role": "member", "name": "made-in-test"}, True),
    ("DELETE", "/tokens/{token_id}", None, True),
]
CALLERS = ["none", "garbage", "alpha-member", "alpha-admin"]


async def call(api: Api, caller: str, team: str, method: str, route: str, body) -> httpx.Response:
    headers = {}
    if caller == "garbage":
        headers["authorization"] = "Bearer figsync_000000000000_" + "x" * 43
    elif caller != "none":
        headers["authorization"] = f"Bearer {api.tokens[caller]}"
    path = route.format(
        job=api.jobs.get(team, "nojob"), token_id=f"nonexistent{uuid.uuid4().hex[:4]}"
    )
    return await api.client.request(method, f"/api/teams/{team}{path}", json=body, headers=headers)


def expected(caller: str, team: str, admin_only: bool) -> tuple[int, str] | None:
    """(status, code) of a refusal, or None when the caller is let through."""
    if caller == "none":
        return 401, "auth.missing_token"
    if caller == "garbage":
        return 401, "auth.bad_token"
    caller_team, role = caller.split("-")
    if caller_team != team:
        return 404, "team.not_found"
    if admin_only and role != "admin":
        return 403, "auth.admin_required"
    return None


@needs_auth
@pytest.mark.parametrize("team", ["alpha", "beta"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "route", "body", "admin_only"), ROUTES)
async def test_the_authorization_matrix(api, caller, team, method, route, body, admin_only):
    before = await api.store.last_position()
    response = await call(api, caller, team, method, route, body)
    refusal = expected(caller, team, admin_only)
    if refusal is not None:
        assert (response.status_code, response.json()["error"]["code"]) == refusal, response.text
        assert await api.store.last_position() == before, "a refused request appended"
    else:
        assert response.status_code not in (401, 403), response.text
        answer = response.json() if response.content else None
        error = answer.get("error") if isinstance(answer, dict) else None
        assert not (error and error["code"] in ("team.not_found", "auth.admin_required")), error


@needs_auth
@pytest.mark.parametrize("team", ["nobody", "Alpha", "../alpha", "a" * 64, "-x"])
async def test_unknown_or_malformed_teams_are_404_even_for_an_admin(api, team):
    response = await call(api, "alpha-admin", team, "GET", "/stats", None)
    assert response.status_code == 404, response.text


@needs_auth
async def test_a_revoked_token_opens_nothing(api):
    from figsync_projector.auth import issue_token

    token = await issue_token(api.store.pool, "alpha", "admin", name="to-revoke")
    headers = {"authorization": f"Bearer {token.token}"}
    assert (await api.client.get("/api/teams/alpha/stats", headers=headers)).status_code == 200
    revoke = await api.client.delete(
        f"/api/teams/alpha/tokens/{token.token_id}",
        headers={"authorization": f"Bearer {api.tokens['alpha-admin']}"},
    )
    assert revoke.status_code == 204, revoke.text
    again = await api.client.get("/api/teams/alpha/stats", headers=headers)
    assert again.status_code == 401 and again.json()["error"]["code"] == "auth.bad_token"


@needs_auth
async def test_an_admin_cannot_revoke_another_teams_token(api):
    response = await api.client.delete(
        f"/api/teams/alpha/tokens/{api.token_ids['beta-member']}",
        headers={"authorization": f"Bearer {api.tokens['alpha-admin']}"},
    )
    assert response.status_code == 404, response.text
    still = await api.client.get(
        "/api/teams/beta/stats", headers={"authorization": f"Bearer {api.tokens['beta-member']}"}
    )
    assert still.status_code == 200


@needs_auth
@pytest.mark.parametrize("caller", ["alpha-member", "alpha-admin"])
async def test_settings_never_show_secret_values(api, caller):
    response = await call(api, caller, "alpha", "GET", "/settings", None)
    assert response.status_code == 200, response.text
    assert SLACK_SECRET not in response.text
    assert "slack_webhook_url" in response.json()["secrets_set"]


@needs_auth
async def test_listings_hold_only_the_teams_own_data(api):
    for route in ("/jobs", "/errors", "/stats"):
        body = (await call(api, "beta-member", "beta", "GET", route, None)).text
        assert api.jobs["alpha"] not in body
    listed = (await call(api, "alpha-member", "alpha", "GET", "/jobs", None)).json()["items"]
    assert [j["job_id"] for j in listed] == [api.jobs["alpha"]]
