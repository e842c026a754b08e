"""Reconcile (and the figma service's own-user look-up) against the sandbox's Figma and a real
event store: a lost mention becomes a job, but only once it is older than the grace (an email
or webhook still in flight takes it first)."""

from datetime import UTC, datetime

import httpx
import pytest

from figsync_clients.budget import SharedBudgets
from figsync_clients.figma import PACE, FigmaClient
from figsync_contracts import comment_job_id
from figsync_figma import handlers
from figsync_figma.reconcile import reconcile_file
from figsync_runtime.secrets import SecretBox, generate_key
from figsync_runtime.teams import TeamRepository
from figsync_runtime.threads import ThreadRegistry
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID

pytestmark = pytest.mark.integration


async def test_a_mention_younger_than_the_grace_is_left_to_its_email(
    sandbox_api, event_store, pg_pool
):
    teams = TeamRepository(event_store, SecretBox(generate_key()))
    await teams.change("acme", {"tracked_mentions": ["@Anna Smith"]},
                       secrets={"figma_token": sandbox_api.figma_token})  # fmt: skip
    team = await teams.get("acme")
    young = sandbox_api.figma.add_comment(DEFAULT_FILE_KEY, "@Anna Smith a brand-new request")
    young.created_at = datetime.now(UTC)  # the sandbox's own clock starts in January
    async with httpx.AsyncClient() as http:
        deps = handlers.Deps(
            figma=FigmaClient(http, sandbox_api.figma_url, requests_per_minute=60_000),
            teams=teams, resolve_link=None, threads=ThreadRegistry(pg_pool),  # type: ignore[arg-type]
        )  # fmt: skip

        async def reconcile(grace: float) -> list[str]:
            done = await reconcile_file(deps, event_store, "acme", team, sandbox_api.figma_token,
                                        DEFAULT_FILE_KEY, grace)  # fmt: skip
            return done.started

        # The sandbox's seeded mentions are days old: reconcile makes them jobs. The new one is
        # seconds old: its email may be on its way, so reconcile leaves it alone.
        mine = comment_job_id("acme", DEFAULT_FILE_KEY, young.id)
        seeded = await reconcile(600)
        assert comment_job_id("acme", DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID) in seeded
        assert mine not in seeded
        assert await reconcile(600) == []
        # Once it is older than the grace, nothing took it: reconcile does, once.
        assert await reconcile(0) == [mine]
        assert await reconcile(0) == []
        [received] = await event_store.read_stream(mine)
        assert received.data["origin"] == "reconcile"


async def test_the_own_user_look_up_is_paced_at_the_teams_rate(sandbox_api, event_store, pg_pool):
    """Every call on a token draws on its one shared budget at the team's rate: the look-up of
    figsync's own user once pushed the budget on by a Professional plan's interval (2.5 s) on
    a faster team, holding back every other call on the token."""
    teams = TeamRepository(event_store, SecretBox(generate_key()))
    team = await teams.change("fast", {"figma_requests_per_minute": 6000})
    async with httpx.AsyncClient() as http:
        deps = handlers.Deps(
            figma=FigmaClient(http, sandbox_api.figma_url, budgets=SharedBudgets(pg_pool)),
            teams=teams, resolve_link=None,  # type: ignore[arg-type]
        )  # fmt: skip
        await deps.self_user(sandbox_api.figma_token, team)
    interval = await pg_pool.fetchval("SELECT interval_s FROM rate_budgets")
    assert interval == pytest.approx(60 / (6000 * PACE))
