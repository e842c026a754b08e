"""Generated input at the projector's API, the settings API above all: random settings
patches, secrets, sync requests, job ids, query strings, tokens and credentials. Never a 5xx,
never an unhandled exception, every refusal a 4xx with an error code, and a refused settings
change changes nothing."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from fuzz_testing import budget, check_answer
from hypothesis import given
from hypothesis import strategies as st

from figsync_eventstore import PostgresEventStore
from figsync_projector.api import create_app
from figsync_projector.feed import ChangeFeed
from figsync_projector.views import Views
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import SECRET_NAMES, SETTABLE, TeamRepository

pytestmark = pytest.mark.integration

if "auth" not in inspect.signature(create_app).parameters:
    pytest.skip(
        "missing feature: the settings API with team tokens (issue 10)", allow_module_level=True
    )


@dataclass
class Api:
    client: httpx.AsyncClient
    teams: TeamRepository
    admin: dict[str, str]
    member: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(module_pool) -> AsyncIterator[Api]:
    from figsync_projector.auth import Authenticator, issue_token

    store = PostgresEventStore(module_pool)
    teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("alpha", {"tracked_mentions": ["@Anna Smith"]})
    admin = await issue_token(module_pool, "alpha", "admin")
    member = await issue_token(module_pool, "alpha", "member")
    auth = Authenticator(module_pool, csrf_key=b"k" * 32)
    app = create_app(Views(module_pool), store, ChangeFeed(None), auth=auth, teams=teams)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as client:
        yield Api(
            client,
            teams,
            {"authorization": f"Bearer {admin.token}"},
            {"authorization": f"Bearer {member.token}"},
        )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "@Anna Smith",
            "https://hooks.slack.com/x",
            "{{title}}",
            "{title",
            "a" * 300,
            "\x00\x1f",
            "1e309",
            "-0",
            "NaN",
        ]
    ),  # fmt: skip
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=15,
)
SETTING_KEYS = [*sorted(SETTABLE), "team", "secrets_set", "version"]


def dumps(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@budget(500)
@given(
    patch=st.dictionaries(st.sampled_from(SETTING_KEYS) | st.text(max_size=10), json_values,
                          max_size=6) | json_values,
    raw=st.booleans(),
)  # fmt: skip
async def test_random_settings_patches(api, patch, raw):
    before = await api.teams.get("alpha")
    body = dumps(patch) if not raw else dumps(patch)[: max(1, len(dumps(patch)) // 2)]
    response = await api.client.patch(
        "/api/teams/alpha/settings",
        content=body,
        headers={**api.admin, "content-type": "application/json"},
    )
    check_answer("settings.patch", response)
    if response.status_code >= 400:
        assert await api.teams.get("alpha") == before, "a refused patch changed the settings"


NOT_NULLABLE = ("name", "tracked_mentions", "figma_files", "notion_field_mapping", "ai_enabled",
                "confirmations_enabled", "recipient_addresses")  # fmt: skip


@pytest.mark.parametrize("setting", NOT_NULLABLE)
async def test_a_null_for_a_setting_that_cannot_be_null_is_a_coded_422(api, setting):
    before = await api.teams.get("alpha")
    response = await api.client.patch(
        "/api/teams/alpha/settings", json={setting: None}, headers=api.admin
    )
    check_answer("settings.null", response)
    assert response.status_code == 422
    assert await api.teams.get("alpha") == before


@budget(200)
@given(
    secrets=st.dictionaries(
        st.sampled_from(sorted(SECRET_NAMES)) | st.text(max_size=10),
        json_values | st.text(max_size=50),
        max_size=4,
    )
    | json_values
)
async def test_random_secrets(api, secrets):
    response = await api.client.put(
        "/api/teams/alpha/secrets",
        content=dumps(secrets),
        headers={**api.admin, "content-type": "application/json"},
    )
    check_answer("settings.secrets", response)
    if response.status_code < 300:
        assert all(str(v) not in response.text for v in secrets.values() if len(str(v)) > 3)


@budget(150)
@given(body=st.fixed_dictionaries({}, optional={"file_key": json_values}) | json_values)
async def test_random_sync_requests(api, body):
    response = await api.client.post("/api/teams/alpha/sync", content=dumps(body),
                                     headers={**api.admin, "content-type": "application/json"})  # fmt: skip
    check_answer("projector.sync", response)


query_values = st.text(max_size=20) | st.sampled_from(
    ["-1", "0", "201", "1e3", "9" * 30, "2026-02-30", "2026-01-01", "0001-01-01", "9999-12-31"]
)


@budget(350)
@given(
    route=st.sampled_from(["/jobs", "/metrics/daily", "/stats", "/errors", "/costs"]),
    params=st.lists(
        st.tuples(st.sampled_from(["status", "limit", "offset", "since", "until", "x"]),
                  query_values),
        max_size=4,
    ),
    member=st.booleans(),
)  # fmt: skip
async def test_random_queries(api, route, params, member):
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params)
    response = await api.client.get(
        f"/api/teams/alpha{route}?{query}", headers=api.member if member else api.admin
    )
    check_answer("projector.query", response)


async def test_a_range_before_the_first_representable_day_is_a_coded_422(api):
    response = await api.client.get("/api/teams/alpha/metrics/daily?until=0001-01-01",
                                    headers=api.member)  # fmt: skip
    check_answer("projector.range", response)


@budget(150)
@given(
    job=st.text(min_size=1, max_size=80).filter(lambda s: s not in (".", ".."))
    | st.sampled_from(["a\x00b", "\x00", "a/b", "/0"]),
    retry=st.booleans(),
)
async def test_random_job_ids(api, job, retry):
    path = f"/api/teams/alpha/jobs/{quote(job, safe='')}" + ("/retry" if retry else "")
    response = await api.client.request("POST" if retry else "GET", path, headers=api.admin)
    check_answer("projector.jobs", response)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_job_id_with_a_nul_character_is_a_coded_404(api, method):
    path = "/api/teams/alpha/jobs/a%00b" + ("/retry" if method == "POST" else "")
    response = await api.client.request(method, path, headers=api.admin)
    check_answer("projector.nul", response)


@budget(100)
@given(body=st.fixed_dictionaries({}, optional={"role": json_values, "name": json_values})
       | json_values)  # fmt: skip
async def test_random_token_requests(api, body):
    response = await api.client.post("/api/teams/alpha/tokens", content=dumps(body),
                                     headers={**api.admin, "content-type": "application/json"})  # fmt: skip
    check_answer("projector.tokens", response)


ROUTES = [("GET", "/settings"), ("PUT", "/secrets"), ("PATCH", "/settings"), ("GET", "/tokens"),
          ("POST", "/tokens"), ("DELETE", "/tokens/abc"), ("GET", "/stats"), ("GET", "/jobs"),
          ("POST", "/sync"), ("POST", "/settings/notion-check"), ("POST", "/settings/ai-preview"),
          ("GET", "/events?after=-1")]  # fmt: skip


@budget(200)
@given(
    route=st.sampled_from(ROUTES),
    team=st.sampled_from(["alpha", "beta", "ALPHA", "a" * 70])
    | st.text(alphabet="abc-%.", min_size=1, max_size=10).filter(lambda t: t not in (".", "..")),
    authorization=st.sampled_from(["", "Bearer ", "Bearer figsync_", "Basic eDp5", "bearer x"])
    | st.text(alphabet="abcdef0123456789_figsyncBearer ", max_size=80),
    body=st.none() | json_values,
)  # fmt: skip
async def test_random_teams_and_credentials_on_every_route(api, route, team, authorization, body):
    method, path = route
    headers = {"authorization": authorization} if authorization else {}
    response = await api.client.request(
        method,
        f"/api/teams/{quote(team, safe='')}{path}",
        headers=headers,
        content=None if body is None or method == "GET" else dumps(body),
    )
    check_answer("projector.routes", response)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/teams/alpha/secrets"), ("GET", "/api/nothing")]
)
async def test_unknown_routes_and_methods_answer_a_coded_4xx(api, method, path):
    response = await api.client.request(method, path, headers=api.admin)
    check_answer("projector.unmatched", response)
