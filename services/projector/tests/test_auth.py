"""Authentication and authorization over the API and the pages: tokens hashed at rest, roles
(members read, admins change), teams isolated, CSRF and same-site checks on form posts."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest
from projector_auth import authenticator
from projector_histories import append, email, failed

from figsync_contracts import TeamSettingsChanged
from figsync_projector.admin import NotionCheck
from figsync_projector.api import create_app
from figsync_projector.auth import issue_token
from figsync_projector.feed import ChangeFeed
from figsync_projector.projection import Projection
from figsync_projector.views import Views
from figsync_projector.web import Dashboard, mount_dashboard
from figsync_runtime.internal import NOTION_CHECK, internal_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

A_JOB = "0b4f9e65-3333-4a0c-9d3e-00000000000a"
B_JOB = "0b4f9e65-3333-4a0c-9d3e-00000000000b"
SECRET = "ntn_s3cr3t-value-never-shown"


class World:
    def __init__(self, client, store, teams, tokens):
        self.client, self.store, self.teams, self.tokens = client, store, teams, tokens

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build(store, teams, notion_check=None, **auth_options):
    auth = authenticator(store.pool, **auth_options)
    feed = ChangeFeed(None)
    app = create_app(Views(store.pool), store, feed, auth=auth, teams=teams,
                     notion_check=notion_check, clock=lambda: datetime.now(UTC))  # fmt: skip
    mount_dashboard(app, Dashboard(Views(store.pool), store, feed, auth, teams,
                                   notion_check=notion_check, cookie_secure=False))  # fmt: skip
    return app


@pytest.fixture
async def world(event_store):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("acme", {"tracked_mentions": ["@Anna"]}, secrets={"notion_token": SECRET})
    await teams.change("globex", {"tracked_mentions": ["@Bob"]})
    await append(event_store, A_JOB, email(1), failed("figma", "figma.forbidden", 1))
    await append(event_store, B_JOB, email(2), failed("figma", "figma.forbidden", 1), team="globex")
    await Projection(event_store).apply_batch(1000)
    tokens = {
        "acme-admin": (await issue_token(event_store.pool, "acme", "admin")).token,
        "acme-member": (await issue_token(event_store.pool, "acme", "member")).token,
        "globex-admin": (await issue_token(event_store.pool, "globex", "admin")).token,
    }
    app = build(event_store, teams)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as client:
        yield World(client, event_store, teams, tokens)


READS = ["stats", "jobs", f"jobs/{A_JOB}", "errors", "costs", "metrics/daily", "settings"]


async def test_the_api_needs_a_valid_token(world):
    missing = await world.client.get("/api/teams/acme/stats")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "auth.missing_token"
    assert missing.headers["www-authenticate"] == "Bearer"
    token = world.tokens["acme-admin"]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")  # same id, another secret
    for header in ["Bearer nope", "Basic abc", f"Bearer {token}x", f"Bearer {altered}"]:
        bad = await world.client.get("/api/teams/acme/stats", headers={"Authorization": header})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "auth.bad_token", header


async def test_members_read_but_only_admins_change_settings_secrets_and_tokens(world):
    for path in READS:
        got = await world.client.get(f"/api/teams/acme/{path}", headers=world.as_("acme-member"))
        assert got.status_code == 200, path
    member = world.as_("acme-member")
    changes = [
        ("PATCH", "settings", {"ai_enabled": False}),
        ("PUT", "secrets", {"figma_token": "figd_x"}),
        ("POST", "settings/notion-check", {}),
        ("GET", "tokens", None),
        ("POST", "tokens", {"role": "admin"}),
    ]
    before = await world.store.last_position()
    for method, path, body in changes:
        refused = await world.client.request(
            method, f"/api/teams/acme/{path}", json=body, headers=member
        )
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "auth.admin_required"
    assert await world.store.last_position() == before
    assert (await world.teams.get("acme")).ai_enabled is True

    admin = world.as_("acme-admin")
    changed = await world.client.patch(
        "/api/teams/acme/settings", json={"ai_enabled": False}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["ai_enabled"] is False
    last = (await world.store.read_stream("team:acme"))[-1]
    assert last.type == TeamSettingsChanged.type
    assert last.data["changed_by"].startswith("token:")


async def test_a_team_sees_and_changes_nothing_of_another_team(world):
    a = world.as_("acme-admin")
    routes = [("GET", p, None) for p in READS] + [
        ("GET", "events", None),
        ("PATCH", "settings", {"ai_enabled": False}),
        ("PUT", "secrets", {"figma_token": "figd_x"}),
        ("POST", f"jobs/{B_JOB}/retry", None),
        ("POST", "sync", {"file_key": "AbC123"}),
        ("GET", "tokens", None),
        ("POST", "tokens", {"role": "admin"}),
    ]
    before = await world.store.last_position()
    for method, path, body in routes:
        response = await world.client.request(
            method, f"/api/teams/globex/{path.replace(A_JOB, B_JOB)}", json=body, headers=a
        )
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "team.not_found"
        assert B_JOB not in response.text
    # A job of team B through team A's path is not found either.
    other = await world.client.get(f"/api/teams/acme/jobs/{B_JOB}", headers=a)
    assert other.status_code == 404
    assert await world.store.last_position() == before


async def test_secrets_are_write_only_and_settings_are_validated(world):
    admin = world.as_("acme-admin")
    put = await world.client.put(
        "/api/teams/acme/secrets", json={"slack_webhook_url": "https://hooks.slack.com/x"},
        headers=admin,
    )  # fmt: skip
    assert put.status_code == 200
    assert put.json() == {"secrets_set": ["notion_token", "slack_webhook_url"]}
    shown = await world.client.get("/api/teams/acme/settings", headers=admin)
    assert SECRET not in shown.text and "hooks.slack.com" not in shown.text
    assert shown.json()["secrets_set"] == ["notion_token", "slack_webhook_url"]
    for body in [{"nope": "x"}, {"figma_token": ""}, {"slack_webhook_url": "http://x"}]:
        bad = await world.client.put("/api/teams/acme/secrets", json=body, headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "secrets.invalid", body
    for body in [
        {"figma_files": ["../../etc/passwd"]},
        {"confirmation_template": "{title} {__class__}"},
        {"notion_database_id": "not-an-id"},
        {"recipient_addresses": ["not an address"]},
        {"ai_monthly_budget_usd": -1},
        {"secrets_set": ["x"]},
        {"tracked_mentions": ["x" * 500]},
    ]:
        bad = await world.client.patch("/api/teams/acme/settings", json=body, headers=admin)
        assert bad.status_code == 422, body
    good = await world.client.patch(
        "/api/teams/acme/settings",
        json={
            "figma_files": ["https://www.figma.com/design/AbC123xyz/Header?node-id=1", "Zz9"],
            "notion_database_id": "https://www.notion.so/ws/Tasks-0123456789abcdef0123456789ABCDEF",
            "confirmation_template": "Tracked: {title} {url}",
            "ai_monthly_budget_usd": "12.50",
        },
        headers=admin,
    )
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["figma_files"] == ["AbC123xyz", "Zz9"]
    assert body["notion_database_id"] == "01234567-89ab-cdef-0123-456789abcdef"


async def test_tokens_are_hashed_at_rest_and_revoking_one_locks_it_out(world):
    admin = world.as_("acme-admin")
    created = await world.client.post(
        "/api/teams/acme/tokens", json={"role": "member", "name": "ci"}, headers=admin
    )
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["token_id"]
    dump = await world.store.pool.fetchval("SELECT string_agg(t::text, '|') FROM api_tokens t")
    secret_part = token.split("_", 2)[2]  # figsync_<id>_<secret>; the secret may hold "_"
    assert secret_part not in dump and token not in dump
    ok = await world.client.get(
        "/api/teams/acme/jobs", headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200
    listed = (await world.client.get("/api/teams/acme/tokens", headers=admin)).json()
    assert token_id in [t["token_id"] for t in listed] and token not in str(listed)
    revoked = await world.client.delete(f"/api/teams/acme/tokens/{token_id}", headers=admin)
    assert revoked.status_code == 204
    gone = await world.client.get(
        "/api/teams/acme/jobs", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 401


async def sign_in(client, token: str) -> httpx.Response:
    return await client.post("/signin", data={"token": token, "next": ""})


async def test_pages_need_a_session_and_the_cookie_is_httponly_and_strict(world):
    page = await world.client.get("/t/acme/jobs")
    assert page.status_code == 303, page.text
    assert page.headers["location"] == "/signin?next=/t/acme/jobs"
    wrong = await sign_in(world.client, "figsync_000000000000_" + "x" * 43)
    assert wrong.status_code == 401 and "auth.bad_token" in wrong.text
    signed = await sign_in(world.client, world.tokens["acme-member"])
    assert signed.status_code == 303 and signed.headers["location"] == "/t/acme/"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert world.tokens["acme-member"] not in signed.headers["set-cookie"]
    for path in ["/t/acme/", "/t/acme/jobs", f"/t/acme/jobs/{A_JOB}", "/t/acme/settings",
                 "/t/acme/inbound", "/t/acme/team"]:  # fmt: skip
        shown = await world.client.get(path)
        assert shown.status_code == 200, path
        assert "default-src 'self'" in shown.headers["content-security-policy"]
        assert SECRET not in shown.text
    for path in ["/t/globex/", "/t/globex/jobs", f"/t/globex/jobs/{B_JOB}", "/t/globex/settings",
                 f"/t/acme/jobs/{B_JOB}"]:  # fmt: skip
        hidden = await world.client.get(path)
        assert hidden.status_code == 404, path
        assert "Timeline" not in hidden.text and "@Bob" not in hidden.text
    # The member sees settings read-only, and cannot post them even with a valid CSRF token.
    settings = await world.client.get("/t/acme/settings")
    assert "<fieldset disabled>" in settings.text and "save-settings" not in settings.text
    csrf = settings.text.split('name="csrf" value="')[1].split('"')[0]
    refused = await world.client.post(
        "/t/acme/settings", data={"csrf": csrf, "form": "settings", "name": "Hacked"}
    )
    assert refused.status_code == 403 and "auth.admin_required" in refused.text
    assert (await world.teams.get("acme")).name != "Hacked"
    # Signing out ends the session on the server.
    out = await world.client.post("/signout")
    assert out.status_code == 303
    assert (await world.client.get("/t/acme/")).status_code == 303


async def test_form_posts_need_the_csrf_token_and_the_same_site(world):
    await sign_in(world.client, world.tokens["acme-admin"])
    settings = await world.client.get("/t/acme/settings")
    csrf = settings.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"form": "settings", "name": "Acme Corp", "ai_enabled": "on"}
    no_token = await world.client.post("/t/acme/settings", data=form)
    assert no_token.status_code == 403 and "auth.csrf" in no_token.text
    forged = await world.client.post("/t/acme/settings", data={**form, "csrf": "0" * 64})
    assert forged.status_code == 403
    cross = await world.client.post(
        "/t/acme/settings", data={**form, "csrf": csrf},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )  # fmt: skip
    assert cross.status_code == 403 and "auth.cross_site" in cross.text
    retry_cross = await world.client.post(
        f"/t/acme/jobs/{A_JOB}/retry", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert retry_cross.status_code == 403
    assert (await world.teams.get("acme")).name != "Acme Corp"
    saved = await world.client.post(
        "/t/acme/settings", data={**form, "csrf": csrf}, headers={"Origin": "http://projector.test"}
    )
    assert saved.status_code == 200, saved.text
    assert (await world.teams.get("acme")).name == "Acme Corp"
    # The admin's session does not reach another team's pages.
    assert (await world.client.post("/t/globex/settings", data={**form, "csrf": csrf})).status_code == 404  # fmt: skip
    # Sign-in only follows local paths afterwards.
    evil = await world.client.post(
        "/signin", data={"token": world.tokens["acme-admin"], "next": "//evil.example/"}
    )
    assert evil.headers["location"] == "/t/acme/"


async def test_the_proxy_user_header_is_ignored_unless_configured(world):
    await world.store.pool.execute(
        "INSERT INTO team_members (team, user_name, role) VALUES ('acme', 'anna@example.com', 'member')"
    )
    header = {"X-Forwarded-User": "anna@example.com"}
    off = await world.client.get("/api/teams/acme/stats", headers=header)
    assert off.status_code == 401
    assert (await world.client.get("/t/acme/", headers=header)).status_code == 303
    app = build(world.store, world.teams, proxy_user_header="X-Forwarded-User")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as proxied:
        assert (await proxied.get("/api/teams/acme/stats", headers=header)).status_code == 200
        assert (await proxied.get("/t/acme/jobs", headers=header)).status_code == 200
        assert (await proxied.get("/api/teams/globex/stats", headers=header)).status_code == 404
        stranger = {"X-Forwarded-User": "mallory@example.com"}
        assert (await proxied.get("/api/teams/acme/stats", headers=stranger)).status_code == 404
        member = await proxied.patch(
            "/api/teams/acme/settings", json={"ai_enabled": False}, headers=header
        )
        assert member.status_code == 403
        cross = await proxied.post(
            "/api/teams/acme/sync", json={"file_key": "AbC"},
            headers={**header, "Sec-Fetch-Site": "cross-site"},
        )  # fmt: skip
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "auth.cross_site"


async def test_figsync_teams_create_prints_a_working_admin_token_once(world, database_url):
    env = {**os.environ, "FIGSYNC_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "figsync_cli.main", "teams", "create", "initech"]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("figsync_")
    settings = await world.client.get(
        "/api/teams/initech/settings", headers={"Authorization": f"Bearer {token}"}
    )
    assert settings.status_code == 200 and settings.json()["team"] == "initech"
    again = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True
    )
    assert again.returncode == 1 and "team.exists" in again.stderr and again.stdout == ""


async def test_the_notion_check_runs_on_the_notion_service_with_the_proposed_values(world):
    asked = []

    def notion_service(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if request.headers.get("x-figsync-internal") != internal_token(
            DEVELOPMENT_KEY, NOTION_CHECK
        ):
            return httpx.Response(403)
        return httpx.Response(
            200,
            json={
                "ok": False,
                "errors": 1,
                "lines": [
                    '  error  notion.property_missing: the database "Tasks" has no property "Due"'
                ],
            },
        )

    check = NotionCheck("http://notion:8013", DEVELOPMENT_KEY,
                        transport=httpx.MockTransport(notion_service))  # fmt: skip
    app = build(world.store, world.teams, notion_check=check)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as client:
        admin = world.as_("acme-admin")
        api = await client.post(
            "/api/teams/acme/settings/notion-check",
            json={"database_id": "0123456789abcdef0123456789abcdef",
                  "field_mapping": {"Due": "due"}}, headers=admin,
        )  # fmt: skip
        assert api.status_code == 200 and api.json()["ok"] is False
        assert json.loads(asked[-1].content) == {
            "team": "acme", "database_id": "0123456789abcdef0123456789abcdef",
            "field_mapping": {"Due": "due"},
        }  # fmt: skip
        await sign_in(client, world.tokens["acme-admin"])
        settings = await client.get("/t/acme/settings")
        csrf = settings.text.split('name="csrf" value="')[1].split('"')[0]
        page = await client.post(
            "/t/acme/settings/notion-check",
            data={"csrf": csrf, "notion_database_id": "https://www.notion.so/Tasks-"
                  "0123456789abcdef0123456789abcdef", "notion_field_mapping": "Due = due"},
        )  # fmt: skip
        assert page.status_code == 200 and "has no property" in page.text
        assert json.loads(asked[-1].content)["database_id"] == (
            "01234567-89ab-cdef-0123-456789abcdef"
        )
    down = NotionCheck("http://127.0.0.1:9", DEVELOPMENT_KEY, timeout=2)
    report = await down.run("acme", None, None)
    assert report["ok"] is False and "notion.check_unavailable" in report["lines"][0]
