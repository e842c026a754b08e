import asyncio
import json
import logging

import pytest

from figsync_runtime.logs import configure_logging
from figsync_runtime.secrets import Sealed, SecretBox, SecretKeyError, generate_key
from figsync_runtime.teams import (
    DEFAULT_TEAM,
    SECRET_NAMES,
    TeamError,
    TeamRepository,
    ensure_default_team,
)

pytestmark = pytest.mark.integration

FIGMA_TOKEN = "figd_EXAMPLE_not_a_real_token_0123456789"
NOTION_TOKEN = "ntn_EXAMPLE_not_a_real_token_abcdefghij"

ENV = {
    "FIGMA_API_TOKEN": FIGMA_TOKEN,
    "NOTION_API_KEY": NOTION_TOKEN,
    "NOTION_DATABASE_ID": "2a1e5f1c-0000-4000-8000-000000000001",
    "ANTHROPIC_API_KEY": "sk-ant-EXAMPLE-not-a-real-key-000000",
    "FIGSYNC_TRACKED_MENTIONS": "@Anna Smith, @dev.team ,@ops-lead",
    "FIGSYNC_EMAIL_WEBHOOK_SECRET": "whsec_RVhBTVBMRS1ub3QtcmVhbA==",
    "FIGSYNC_FIGMA_WEBHOOK_PASSCODE": "passcode-EXAMPLE-123",
}


@pytest.fixture
def repo(event_store):
    return TeamRepository(event_store, SecretBox(generate_key()))


async def test_the_default_team_comes_from_the_environment(repo):
    team = await ensure_default_team(repo, ENV)
    assert team.team == DEFAULT_TEAM
    assert team.tracked_mentions == ["@Anna Smith", "@dev.team", "@ops-lead"]
    assert team.notion_database_id == ENV["NOTION_DATABASE_ID"]
    assert set(team.secrets_set) >= {"figma_token", "notion_token", "anthropic_api_key"}
    assert await repo.get_secret(DEFAULT_TEAM, "figma_token") == FIGMA_TOKEN


async def test_the_default_teams_figma_plan_and_seat_come_from_the_environment(repo):
    team = await ensure_default_team(repo, ENV)
    assert (team.figma_plan, team.figma_seat, team.figma_requests_per_minute) == (
        "professional", "full", None,
    )  # fmt: skip
    team = await ensure_default_team(
        repo, {**ENV, "FIGSYNC_FIGMA_PLAN": "Enterprise", "FIGSYNC_FIGMA_SEAT": "dev"}
    )
    assert (team.figma_plan, team.figma_seat) == ("enterprise", "dev")
    team = await ensure_default_team(repo, {**ENV, "FIGSYNC_FIGMA_REQUESTS_PER_MINUTE": "40"})
    assert team.figma_requests_per_minute == 40
    with pytest.raises(TeamError, match=r"team.bad_setting: FIGSYNC_FIGMA_PLAN: .*'enterprise'"):
        await ensure_default_team(repo, {**ENV, "FIGSYNC_FIGMA_PLAN": "pro"})
    with pytest.raises(TeamError, match="FIGSYNC_FIGMA_REQUESTS_PER_MINUTE"):
        await ensure_default_team(repo, {**ENV, "FIGSYNC_FIGMA_REQUESTS_PER_MINUTE": "-1"})


async def test_restarting_with_the_same_environment_records_nothing_new(repo, event_store):
    await ensure_default_team(repo, ENV)
    await ensure_default_team(repo, ENV)
    assert len(await event_store.read_stream("team:default")) == 1
    await ensure_default_team(repo, {**ENV, "FIGSYNC_TRACKED_MENTIONS": "@someone"})
    history = await event_store.read_stream("team:default")
    assert len(history) == 2
    assert history[-1].data["changes"] == {"tracked_mentions": ["@someone"]}


async def test_settings_changes_are_events_and_secrets_are_only_named_in_them(
    repo, event_store, pg_pool
):
    await ensure_default_team(repo, ENV)
    await repo.change("acme", {"ai_enabled": False}, secrets={"figma_token": "figd_OTHER_1234567"},
                      changed_by="admin@acme.example")  # fmt: skip
    last = (await event_store.read_stream("team:acme"))[-1]
    assert last.data["changes"] == {"ai_enabled": False}
    assert last.data["secrets_changed"] == ["figma_token"]
    async with pg_pool.acquire() as conn:
        everything = json.dumps(
            [dict(r) for r in await conn.fetch("SELECT data, metadata FROM events")]
        )
        stored = await conn.fetch("SELECT ciphertext FROM team_secrets")
    for secret in (*ENV.values(), "figd_OTHER_1234567"):
        if secret.startswith(("figd", "ntn", "sk-ant", "whsec", "passcode")):
            assert secret not in everything
            assert all(secret.encode() not in bytes(r["ciphertext"]) for r in stored)


async def test_unknown_settings_secrets_and_team_ids_are_refused(repo):
    with pytest.raises(TeamError, match="team.unknown_setting: colour"):
        await repo.change("acme", {"colour": "red"})
    with pytest.raises(TeamError, match="team.unknown_secret: password"):
        await repo.change("acme", {}, secrets={"password": "x"})
    with pytest.raises(TeamError, match="team.bad_id"):
        await repo.change("../etc", {})


async def test_secrets_never_reach_the_logs(repo, capsys):
    configure_logging("test", "DEBUG", "json")
    team = await ensure_default_team(repo, ENV)
    logging.getLogger("test").warning(
        "calling figma with %s for anna@example.com, Authorization: Bearer %s",
        await repo.get_secret(DEFAULT_TEAM, "figma_token"),
        NOTION_TOKEN,
    )
    err = capsys.readouterr().err
    assert team.secrets_set
    assert FIGMA_TOKEN not in err and NOTION_TOKEN not in err
    assert "anna@example.com" not in err and "***@example.com" in err
    assert json.loads(err.strip().splitlines()[-1])["level"] == "warning"


def test_sealed_secrets_are_bound_to_team_name_and_key():
    box = SecretBox(generate_key())
    sealed = box.seal("acme", "figma_token", FIGMA_TOKEN)
    assert FIGMA_TOKEN.encode() not in sealed.ciphertext
    assert box.open("acme", "figma_token", sealed) == FIGMA_TOKEN
    with pytest.raises(SecretKeyError, match="tampered"):
        box.open("other", "figma_token", sealed)
    flipped = Sealed(sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:],
                     sealed.key_id)  # fmt: skip
    with pytest.raises(SecretKeyError, match="tampered"):
        box.open("acme", "figma_token", flipped)
    with pytest.raises(SecretKeyError, match="key_mismatch"):
        SecretBox(generate_key()).open("acme", "figma_token", sealed)
    with pytest.raises(SecretKeyError, match="32 bytes"):
        SecretBox("c2hvcnQ=")


async def test_services_starting_together_all_get_the_default_team(repo):
    import asyncio

    teams = await asyncio.gather(*(ensure_default_team(repo, ENV) for _ in range(6)))
    assert {t.version for t in teams} == {1}


async def test_a_cleared_secret_is_deleted_and_named_in_the_event_without_its_value(
    repo, event_store, pg_pool
):
    await repo.change(
        "acme", {}, secrets={"figma_token": FIGMA_TOKEN, "notion_token": NOTION_TOKEN}
    )
    changed = await repo.change("acme", {}, clear_secrets=["figma_token"], changed_by="ops")
    assert changed.secrets_set == ["notion_token"]
    assert await repo.get_secret("acme", "figma_token") is None
    last = (await event_store.read_stream("team:acme"))[-1]
    assert last.data["secrets_cleared"] == ["figma_token"] and last.data["changed_by"] == "ops"
    assert last.data["secrets_changed"] == [] and last.data["changes"] == {}
    # Clearing what is not set records nothing; a name both set and cleared is refused.
    version = changed.version
    assert (await repo.change("acme", {}, clear_secrets=["figma_token"])).version == version
    with pytest.raises(TeamError, match="team.secret_set_and_cleared"):
        await repo.change("acme", {}, secrets={"notion_token": "x"}, clear_secrets=["notion_token"])
    with pytest.raises(TeamError, match="team.unknown_secret"):
        await repo.change("acme", {}, clear_secrets=["password"])
    # Set again, it is back.
    again = await repo.change("acme", {}, secrets={"figma_token": "figd_NEW_0123456789"})
    assert again.secrets_set == ["figma_token", "notion_token"]
    everything = await pg_pool.fetchval("SELECT string_agg(data::text, '|') FROM events")
    assert FIGMA_TOKEN not in everything and "figd_NEW_0123456789" not in everything


async def test_a_secret_is_stored_only_with_the_event_that_names_it(repo, pg_pool):
    await repo.change("acme", {"name": "Acme"})
    names = sorted(SECRET_NAMES)
    # Changes racing on one team: the losers' appends conflict, and their secrets roll back.
    results = await asyncio.gather(
        *(repo.change("acme", {}, secrets={name: f"value-{name}"}) for name in names),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert refused and all("team.concurrent_change" in str(r) for r in refused)
    stored = {r["name"] for r in await pg_pool.fetch("SELECT name FROM team_secrets")}
    assert stored == set((await repo.get("acme")).secrets_set)
    assert 0 < len(stored) < len(names)


async def test_a_teams_allowed_networks_are_validated_and_normalized(repo):
    changed = await repo.change("acme", {"allowed_networks": ["10.1.2.3/8", "2001:db8::1"]})
    assert changed.allowed_networks == ["10.0.0.0/8", "2001:db8::1/128"]
    with pytest.raises(ValueError, match="CIDR"):
        await repo.change("acme", {"allowed_networks": ["10.0.0.0/33"]})
