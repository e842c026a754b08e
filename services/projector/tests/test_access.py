"""Tokens and access: tokens expire and rotate without downtime, network allow-lists (global
and per team, behind trusted proxies), the read API's rate per token shared by replicas,
security headers on every response, clearing secrets, removing admins, and the audit trail."""

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from projector_auth import authenticator

from figsync_clients.budget import SharedBudgets
from figsync_contracts import AuditRecorded, TeamSettingsChanged, audit_stream_id
from figsync_projector.access import Access
from figsync_projector.api import create_app
from figsync_projector.auth import AuthError, TokenPolicy, issue_token, rotate_token
from figsync_projector.feed import ChangeFeed
from figsync_projector.views import Views
from figsync_projector.web import Dashboard, mount_dashboard
from figsync_runtime.http import add_health_routes
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

SECRET = "ntn_cleared-secret-value-never-shown"
BASE = "http://projector.test"


def build(store, teams, access=None, policy=None):
    auth = authenticator(store.pool)
    feed = ChangeFeed(None)
    app = create_app(Views(store.pool), store, feed, auth=auth, teams=teams, access=access,
                     token_policy=policy, clock=lambda: datetime.now(UTC))  # fmt: skip
    mount_dashboard(app, Dashboard(Views(store.pool), store, feed, auth, teams,
                                   cookie_secure=False, access=access or Access(),
                                   token_policy=policy or TokenPolicy()))  # fmt: skip
    add_health_routes(app, {})
    return app


def client(app, peer=("127.0.0.1", 123), **options) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=peer, **options)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status(http: httpx.AsyncClient, path: str, token: str | None = None, **headers) -> int:
    return (
        await http.get(path, headers={**(bearer(token) if token else {}), **headers})
    ).status_code


@pytest.fixture
async def teams(event_store):
    repo = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await repo.change("acme", {"name": "Acme"}, secrets={"notion_token": SECRET})
    return repo


async def audit_records(store, team: str) -> list[dict]:
    return [
        {"action": e.data["action"], "actor": e.data["actor"], "target": e.data["target"],
         **e.data["details"]}
        for e in await store.read_stream(audit_stream_id(team))
        if e.type == AuditRecorded.type
    ]  # fmt: skip


async def csrf_of(http: httpx.AsyncClient, token: str, path: str) -> str:
    signed = await http.post("/signin", data={"token": token, "next": ""})
    assert signed.status_code == 303, signed.text
    page = await http.get(path)
    return page.text.split('name="csrf" value="')[1].split('"')[0]


# --- expiry and rotation -----------------------------------------------------------------------


async def test_tokens_expire_by_default_and_never_only_when_asked(event_store, teams):
    app = build(event_store, teams, policy=TokenPolicy(ttl=timedelta(days=30)))
    async with client(app) as http:
        admin = (await issue_token(event_store.pool, "acme", "admin", name="a")).token
        made = await http.post("/api/teams/acme/tokens", json={"name": "ci"}, headers=bearer(admin))
        assert made.status_code == 201
        days = (datetime.fromisoformat(made.json()["expires_at"]) - datetime.now(UTC)).days
        assert days in (29, 30)  # the server's FIGSYNC_TOKEN_TTL_DAYS
        short = await http.post("/api/teams/acme/tokens", json={"expires_in_days": 1},
                                headers=bearer(admin))  # fmt: skip
        assert (datetime.fromisoformat(short.json()["expires_at"]) - datetime.now(UTC)).days == 0
        never = await http.post("/api/teams/acme/tokens", json={"expires_in_days": None},
                                headers=bearer(admin))  # fmt: skip
        assert never.status_code == 201 and never.json()["expires_at"] is None
        for bad in [0, -1, 100_000]:
            refused = await http.post("/api/teams/acme/tokens", json={"expires_in_days": bad},
                                      headers=bearer(admin))  # fmt: skip
            assert refused.status_code == 422, bad


async def test_an_expired_token_is_refused_with_its_own_code_on_the_api_and_the_pages(
    event_store, teams
):
    issued = await issue_token(event_store.pool, "acme", "member", name="old")
    async with client(build(event_store, teams)) as http:
        assert await status(http, "/api/teams/acme/jobs", issued.token) == 200
        signed = await http.post("/signin", data={"token": issued.token, "next": ""})
        assert signed.status_code == 303
        assert (await http.get("/t/acme/jobs")).status_code == 200
        await event_store.pool.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1",
            issued.token_id,
        )
        refused = await http.get("/api/teams/acme/jobs", headers=bearer(issued.token))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token.expired"
        assert refused.headers["www-authenticate"] == "Bearer"
        # A wrong secret with the expired token's id says nothing about the token.
        altered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
        unknown = await http.get("/api/teams/acme/jobs", headers=bearer(altered))
        assert unknown.json()["error"]["code"] == "auth.bad_token"
        # Its dashboard session ended with it; signing in again says why.
        assert (await http.get("/t/acme/jobs")).status_code == 303
        again = await http.post("/signin", data={"token": issued.token, "next": ""})
        assert again.status_code == 401 and "token.expired" in again.text


async def test_rotation_keeps_the_old_token_working_for_the_grace_period_only(event_store, teams):
    admin = (await issue_token(event_store.pool, "acme", "admin", name="admin")).token
    old = await issue_token(event_store.pool, "acme", "member", name="ci")
    async with client(build(event_store, teams)) as http:
        rotated = await http.post(f"/api/teams/acme/tokens/{old.token_id}/rotate",
                                  json={"grace_hours": 1}, headers=bearer(admin))  # fmt: skip
        assert rotated.status_code == 201, rotated.text
        new = rotated.json()
        assert new["role"] == "member" and new["replaces"] == old.token_id
        grace_end = datetime.fromisoformat(new["replaced_until"]) - datetime.now(UTC)
        assert timedelta(minutes=59) < grace_end <= timedelta(hours=1)
        # During the grace period both work: clients switch without downtime.
        for token in (old.token, new["token"]):
            assert await status(http, "/api/teams/acme/stats", token) == 200
        listed = {t["token_id"]: t for t in (await http.get(
            "/api/teams/acme/tokens", headers=bearer(admin))).json()}  # fmt: skip
        assert listed[old.token_id]["rotated_to"] == new["token_id"]
        assert listed[new["token_id"]]["name"] == "ci"
        twice = await http.post(f"/api/teams/acme/tokens/{old.token_id}/rotate",
                                headers=bearer(admin))  # fmt: skip
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "token.already_rotated"
        # The grace period ends (moved into the past, by the database's clock).
        await event_store.pool.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1",
            old.token_id,
        )
        after = await http.get("/api/teams/acme/stats", headers=bearer(old.token))
        assert after.status_code == 401 and after.json()["error"]["code"] == "token.expired"
        assert new["token_id"] in after.json()["error"]["message"]
        assert await status(http, "/api/teams/acme/stats", new["token"]) == 200
    # A grace of nothing ends the old token at once; an expired token cannot be rotated.
    other = await issue_token(event_store.pool, "acme", "member")
    await rotate_token(event_store.pool, "acme", other.token_id, grace=timedelta(0))
    auth = authenticator(event_store.pool)
    with pytest.raises(AuthError) as refused:
        await auth.from_token(other.token)
    assert refused.value.code == "token.expired"
    with pytest.raises(AuthError) as expired:
        await rotate_token(event_store.pool, "acme", other.token_id)
    assert expired.value.code == "token.not_found"


async def test_the_team_page_rotates_a_token_and_shows_the_successor_once(event_store, teams):
    admin = (await issue_token(event_store.pool, "acme", "admin", name="admin")).token
    old = await issue_token(event_store.pool, "acme", "member", name="ci")
    async with client(build(event_store, teams)) as http:
        csrf = await csrf_of(http, admin, "/t/acme/team")
        page = await http.get("/t/acme/team")
        assert f"/t/acme/tokens/{old.token_id}/rotate" in page.text
        assert 'name="expires_in_days"' in page.text
        done = await http.post(f"/t/acme/tokens/{old.token_id}/rotate", data={"csrf": csrf},
                               headers={"HX-Request": "true"})  # fmt: skip
        assert done.status_code == 200, done.text
        new_token = done.text.split('id="new-token">')[1].split("<")[0]
        assert new_token.startswith("figsync_") and f"replacing <code>{old.token_id}" in done.text
        assert await status(http, "/api/teams/acme/jobs", new_token) == 200
        assert await status(http, "/api/teams/acme/jobs", old.token) == 200
        made = await http.post("/t/acme/tokens", data={"csrf": csrf, "name": "forever",
                                                       "expires_in_days": "never"})  # fmt: skip
        assert made.status_code == 200
        forever = await event_store.pool.fetchval(
            "SELECT count(*) FROM api_tokens WHERE name = 'forever' AND expires_at IS NULL"
        )
        assert forever == 1


# --- networks --------------------------------------------------------------------------------


async def test_the_global_allow_list_is_checked_behind_the_trusted_proxy_hops(event_store, teams):
    token = (await issue_token(event_store.pool, "acme", "member")).token
    access = Access(trusted_hops=1, networks=("10.0.0.0/8",))
    app = build(event_store, teams, access=access)
    async with client(app, peer=("192.0.2.1", 443)) as proxy:  # the proxy's own address
        inside = await proxy.get("/api/teams/acme/stats", headers={
            **bearer(token), "X-Forwarded-For": "203.0.113.5, 10.4.5.6"})  # fmt: skip
        assert inside.status_code == 200, inside.text
        # The client claims an inside address; the proxy appended the real one.
        spoofed = await proxy.get("/api/teams/acme/stats", headers={
            **bearer(token), "X-Forwarded-For": "10.4.5.6, 203.0.113.5"})  # fmt: skip
        assert spoofed.status_code == 403
        assert spoofed.json()["error"]["code"] == "access.network_refused"
        assert spoofed.headers["x-content-type-options"] == "nosniff"
        for path in ["/signin", "/openapi.json", "/static/dashboard.css"]:
            assert await status(proxy, path, **{"X-Forwarded-For": "203.0.113.5"}) == 403, path
        assert (await proxy.get("/healthz")).status_code == 200  # probes are not limited
    direct = build(event_store, teams, access=Access(networks=("10.0.0.0/8",)))
    async with client(direct, peer=("203.0.113.5", 443)) as outside:
        ignored = await outside.get("/api/teams/acme/stats", headers={
            **bearer(token), "X-Forwarded-For": "10.4.5.6"})  # fmt: skip
        assert ignored.status_code == 403  # no trusted hop: the header means nothing


async def test_a_teams_allow_list_guards_its_api_and_pages_and_cannot_lock_its_admin_out(
    event_store, teams
):
    admin = (await issue_token(event_store.pool, "acme", "admin")).token
    app = build(event_store, teams)
    async with client(app, peer=("198.51.100.20", 1)) as http:
        settings = "/api/teams/acme/settings"
        lockout = await http.patch(
            settings, json={"allowed_networks": ["10.0.0.0/8"]}, headers=bearer(admin)
        )
        assert lockout.status_code == 422
        assert lockout.json()["error"]["code"] == "access.would_lock_out"
        bad = await http.patch(
            settings, json={"allowed_networks": ["10.0.0.0/33"]}, headers=bearer(admin)
        )
        assert bad.status_code == 422
        saved = await http.patch("/api/teams/acme/settings",
                                 json={"allowed_networks": ["198.51.100.0/24", " 10.1.2.3 "]},
                                 headers=bearer(admin))  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert saved.json()["allowed_networks"] == ["198.51.100.0/24", "10.1.2.3/32"]
        csrf = await csrf_of(http, admin, "/t/acme/settings")
        assert "198.51.100.0/24" in (await http.get("/t/acme/settings")).text
    async with client(app, peer=("203.0.113.5", 1)) as outsider:
        api = await outsider.get("/api/teams/acme/stats", headers=bearer(admin))
        assert api.status_code == 403 and api.json()["error"]["code"] == "access.network_refused"
        await outsider.post("/signin", data={"token": admin, "next": ""})
        page = await outsider.get("/t/acme/jobs")
        assert page.status_code == 403 and "access.network_refused" in page.text
    async with client(app, peer=("10.1.2.3", 1)) as listed:
        assert await status(listed, "/api/teams/acme/stats", admin) == 200
    async with client(app, peer=("198.51.100.20", 1)) as http:
        csrf = await csrf_of(http, admin, "/t/acme/settings")
        assert "198.51.100.0/24" in (await http.get("/t/acme/settings")).text
        cleared = await http.post("/t/acme/settings", data={
            "csrf": csrf, "form": "settings", "allowed_networks": ""})  # fmt: skip
        assert cleared.status_code == 200
        assert (await teams.get("acme")).allowed_networks == []


# --- rate limit ------------------------------------------------------------------------------


async def test_the_api_rate_is_per_token_and_shared_by_every_replica(event_store, teams):
    busy = (await issue_token(event_store.pool, "acme", "member")).token
    other = (await issue_token(event_store.pool, "acme", "member")).token

    def replica():  # one budget in Postgres, as two processes would share it
        access = Access(per_minute=6, burst=3,
                        budgets=SharedBudgets(event_store.pool, max_wait=0))  # fmt: skip
        return build(event_store, teams, access=access)

    async with client(replica()) as one, client(replica()) as two:
        answers = [
            await http.get("/api/teams/acme/stats", headers=bearer(busy))
            for http in (one, two, one, two)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        limited = answers[-1]
        assert limited.json()["error"]["code"] == "api.rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert limited.headers["cache-control"] == "no-store"
        assert (await one.get("/api/teams/acme/stats", headers=bearer(other))).status_code == 200
        # Pages (a session) are not the read API; they are not limited.
        await one.post("/signin", data={"token": busy, "next": ""})
        assert (await one.get("/t/acme/")).status_code == 200


# --- security headers ------------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(event_store, teams):
    token = (await issue_token(event_store.pool, "acme", "member")).token
    app = build(event_store, teams)

    async def boom(_):
        raise RuntimeError("a bug")

    app.add_route("/boom", boom)
    async with client(app, raise_app_exceptions=False) as http:
        responses = {
            "api": await http.get("/api/teams/acme/stats", headers=bearer(token)),
            "401": await http.get("/api/teams/acme/stats"),
            "404": await http.get("/api/teams/acme/jobs/nope", headers=bearer(token)),
            "route": await http.get("/nope"),
            "openapi": await http.get("/openapi.json"),
            "healthz": await http.get("/healthz"),
            "metrics": await http.get("/metrics"),
            "500": await http.get("/boom"),
        }
        assert responses["500"].status_code == 500
        for name, response in responses.items():
            headers = response.headers
            assert headers["x-content-type-options"] == "nosniff", name
            assert headers["x-frame-options"] == "DENY", name
            assert "referrer-policy" in headers, name
            assert headers["cache-control"] == "no-store", name
            assert headers["content-security-policy"].startswith("default-src 'none'"), name
        signin = await http.get("/signin")
        assert "default-src 'self'" in signin.headers["content-security-policy"]
        assert signin.headers["x-frame-options"] == "DENY"
        static = await http.get("/static/dashboard.css")
        assert static.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in static.headers.get("cache-control", "")


# --- secrets, members, audit -----------------------------------------------------------------


async def test_clearing_a_secret_deletes_it_and_the_event_names_it_without_a_value(
    event_store, teams
):
    admin = (await issue_token(event_store.pool, "acme", "admin")).token
    member = (await issue_token(event_store.pool, "acme", "member")).token
    await teams.change("acme", {}, secrets={"figma_token": "figd_another-secret-value"})
    async with client(build(event_store, teams)) as http:
        refused = await http.delete("/api/teams/acme/secrets/notion_token", headers=bearer(member))
        assert refused.status_code == 403
        cleared = await http.delete("/api/teams/acme/secrets/notion_token", headers=bearer(admin))
        assert cleared.status_code == 204
        again = await http.delete("/api/teams/acme/secrets/notion_token", headers=bearer(admin))
        assert again.status_code == 404 and again.json()["error"]["code"] == "secret.not_set"
        unknown = await http.delete("/api/teams/acme/secrets/nope", headers=bearer(admin))
        assert unknown.status_code == 404
        assert await teams.get_secret("acme", "notion_token") is None
        assert (await teams.get("acme")).secrets_set == ["figma_token"]
        # The dashboard's Clear button of one secret.
        csrf = await csrf_of(http, admin, "/t/acme/settings")
        assert 'data-clear="figma_token"' in (await http.get("/t/acme/settings")).text
        page = await http.post("/t/acme/secrets", data={"csrf": csrf, "clear": "figma_token"})
        assert page.status_code == 200 and "secret.cleared" in page.text
    assert await teams.get_secret("acme", "figma_token") is None
    events = await event_store.read_stream("team:acme")
    clearings = [e.data for e in events if e.type == TeamSettingsChanged.type
                 and e.data.get("secrets_cleared")]  # fmt: skip
    assert [c["secrets_cleared"] for c in clearings] == [["notion_token"], ["figma_token"]]
    assert all(c["changed_by"].startswith("token:") for c in clearings)
    everything = await event_store.pool.fetchval(
        "SELECT string_agg(data::text || metadata::text, '|') FROM events"
    )
    assert SECRET not in everything and "figd_another-secret-value" not in everything
    assert await event_store.pool.fetchval("SELECT count(*) FROM team_secrets") == 0


async def test_an_admin_member_can_be_removed_but_never_the_last_one(event_store, teams):
    admin = (await issue_token(event_store.pool, "acme", "admin", created_by="tests")).token
    async with client(build(event_store, teams)) as http:
        csrf = await csrf_of(http, admin, "/t/acme/team")

        async def members(**form):
            return await http.post("/t/acme/members", data={"csrf": csrf, **form})

        assert (await members(user="anna@example.com", role="admin")).status_code == 200
        assert (await members(user="ben@example.com", role="admin")).status_code == 200
        assert (await members(user="cleo@example.com", role="member")).status_code == 200
        removed = await members(user="anna@example.com", action="remove")
        assert removed.status_code == 200 and "member.saved" in removed.text
        last = await members(user="ben@example.com", action="remove")
        assert last.status_code == 409 and "member.last_admin" in last.text
        demoted = await members(user="ben@example.com", role="member")
        assert demoted.status_code == 409 and "member.last_admin" in demoted.text
        missing = await members(user="nobody@example.com", action="remove")
        assert missing.status_code == 404
        assert (await members(user="cleo@example.com", action="remove")).status_code == 200
    left = await event_store.pool.fetch("SELECT user_name, role FROM team_members")
    assert [(r["user_name"], r["role"]) for r in left] == [("ben@example.com", "admin")]


async def test_token_and_member_changes_are_audit_records_without_secrets(event_store, teams):
    admin = await issue_token(event_store.pool, "acme", "admin", name="root", created_by="cli")
    async with client(build(event_store, teams)) as http:
        made = await http.post("/api/teams/acme/tokens", json={"name": "ci", "role": "member"},
                               headers=bearer(admin.token))  # fmt: skip
        ci = made.json()
        rotated = (await http.post(f"/api/teams/acme/tokens/{ci['token_id']}/rotate",
                                   headers=bearer(admin.token))).json()  # fmt: skip
        assert (await http.delete(f"/api/teams/acme/tokens/{rotated['token_id']}",
                                  headers=bearer(admin.token))).status_code == 204  # fmt: skip
        csrf = await csrf_of(http, admin.token, "/t/acme/team")
        await http.post("/t/acme/members", data={"csrf": csrf, "user": "anna@example.com",
                                                 "role": "admin"})  # fmt: skip
        await http.post("/t/acme/members", data={"csrf": csrf, "user": "bo@example.com",
                                                 "role": "member"})  # fmt: skip
        await http.post("/t/acme/members", data={"csrf": csrf, "user": "bo@example.com",
                                                 "action": "remove"})  # fmt: skip
    records = await audit_records(event_store, "acme")
    actor = f"token:{admin.token_id} (root)"
    assert [(r["action"], r["actor"], r["target"]) for r in records] == [
        ("token.issued", "cli", admin.token_id),
        ("token.issued", actor, ci["token_id"]),
        ("token.rotated", actor, ci["token_id"]),
        ("token.revoked", actor, rotated["token_id"]),
        ("member.added", actor, "anna@example.com"),
        ("member.added", actor, "bo@example.com"),
        ("member.removed", actor, "bo@example.com"),
    ]
    assert records[2]["new_token_id"] == rotated["token_id"] and records[2]["role"] == "member"
    assert records[4]["role"] == "admin"
    stored = await event_store.pool.fetchval(
        "SELECT string_agg(data::text, '|') FROM events WHERE stream_id = $1",
        audit_stream_id("acme"),
    )
    for token in (admin.token, ci["token"], rotated["token"]):
        assert token.split("_", 2)[2] not in stored
    # Nothing of it lands on the team's settings stream (read as TeamSettingsChanged only).
    assert {e.type for e in await event_store.read_stream("team:acme")} == {
        TeamSettingsChanged.type
    }


async def test_figsync_teams_token_rotate_and_secret_clear(event_store, teams, database_url):
    old = await issue_token(event_store.pool, "acme", "member", name="deploy")
    env = {**os.environ, "FIGSYNC_DATABASE_URL": database_url}

    def figsync(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "figsync_cli.main", *args]
        return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True)

    rotated = await asyncio.to_thread(figsync, "teams", "token", "rotate", old.token_id,
                                      "--grace", "2h", "--expires-in", "30d")  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("figsync_") and f"replaces {old.token_id}" in rotated.stderr
    auth = authenticator(event_store.pool)
    assert await auth.from_token(old.token) is not None  # in its grace period
    assert (await auth.from_token(new)).roles == {"acme": "member"}
    grace, lifetime = await event_store.pool.fetchrow(
        """SELECT (SELECT expires_at FROM api_tokens WHERE token_id = $1) - now(),
                  (SELECT expires_at FROM api_tokens WHERE token_id = $2) - now()""",
        old.token_id, new.split("_")[1],
    )  # fmt: skip
    assert timedelta(hours=1, minutes=59) < grace <= timedelta(hours=2)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
    listed = await asyncio.to_thread(figsync, "teams", "tokens", "acme")
    assert f"rotated to {new.split('_')[1]}" in listed.stdout
    cleared = await asyncio.to_thread(figsync, "teams", "secret", "clear", "acme", "notion_token")
    assert cleared.returncode == 0, cleared.stderr
    assert await teams.get_secret("acme", "notion_token") is None
    again = await asyncio.to_thread(figsync, "teams", "secret", "clear", "acme", "notion_token")
    assert again.returncode == 1 and "secret.not_set" in again.stderr
    revoked = await asyncio.to_thread(figsync, "teams", "token", "revoke", old.token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert await auth.from_token(old.token) is None
    actions = [r["action"] for r in await audit_records(event_store, "acme")]
    assert actions[-2:] == ["token.rotated", "token.revoked"]
