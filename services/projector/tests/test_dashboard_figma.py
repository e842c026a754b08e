"""The dashboard's Figma settings (plan, seat, an override of the budget) and the Figma budget
card: what the team's token may call per minute and what it used, read from the shared
rate_budgets rows that the Figma client writes."""

import html
import re

import httpx
import pytest
from projector_auth import authenticator

from figsync_clients.budget import SharedBudgets
from figsync_clients.figma import FigmaClient, team_per_minute
from figsync_clients.resilience import credential_key
from figsync_projector.api import create_app
from figsync_projector.auth import issue_token
from figsync_projector.feed import ChangeFeed
from figsync_projector.views import Views
from figsync_projector.web import Dashboard, mount_dashboard
from figsync_runtime.errors import RetryableError, WaitError
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox, generate_key
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

FIGMA_TOKEN = "figd_dashboard-test-token-never-shown"


class Site:
    def __init__(self, client: httpx.AsyncClient, teams: TeamRepository, tokens: dict[str, str]):
        self.client, self.teams, self.tokens = client, teams, tokens
        self.pool = teams.pool

    async def sign_in(self, who: str) -> str:
        """Signs in with the token of `who`; the settings page's CSRF token."""
        signed = await self.client.post("/signin", data={"token": self.tokens[who], "next": ""})
        assert signed.status_code == 303, signed.text
        page = await self.client.get("/t/acme/settings")
        return page.text.split('name="csrf" value="')[1].split('"')[0]

    def api(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def site(event_store):
    # No read cache: changes made through another repository show at once.
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme", "tracked_mentions": ["@Anna"]})
    tokens = {role: (await issue_token(event_store.pool, "acme", role)).token
              for role in ("admin", "member")}  # fmt: skip
    auth, feed = authenticator(event_store.pool), ChangeFeed(None)
    app = create_app(Views(event_store.pool), event_store, feed, auth=auth, teams=teams)
    mount_dashboard(app, Dashboard(Views(event_store.pool), event_store, feed, auth, teams,
                                   cookie_secure=False))  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://projector.test"
    ) as client:
        yield Site(client, teams, tokens)


def settings_form(csrf: str, **figma: str) -> dict[str, str]:
    """The settings form as the page sends it (the Figma fields as given)."""
    return {"csrf": csrf, "form": "settings", "name": "Acme", "tracked_mentions": "@Anna",
            "figma_files": "", "notion_database_id": "", "notion_field_mapping": "",
            "ai_enabled": "on", "ai_model": "", "ai_monthly_budget_usd": "",
            "confirmations_enabled": "on", "confirmation_template": "",
            "recipient_addresses": "", **figma}  # fmt: skip


def selected(page: str, name: str) -> str:
    options = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    assert options, name
    chosen = re.findall(r'<option value="(\w+)" selected>', options.group(1))
    assert len(chosen) == 1, (name, chosen)
    return chosen[0]


def override_field(page: str) -> tuple[str, str]:
    field = re.search(r'<input name="figma_requests_per_minute"[^>]*>', page)
    assert field
    value = re.search(r'value="([^"]*)"', field.group(0))
    placeholder = re.search(r'placeholder="([^"]*)"', field.group(0))
    return value.group(1), html.unescape(placeholder.group(1))  # type: ignore[union-attr]


def budget_card(page: str) -> dict[str, str]:
    """The budget card's lines by their data-budget name, as text."""
    found = re.findall(r'<(?:dd|p) [^>]*data-budget="([\w-]+)"[^>]*>(.*?)</(?:dd|p)>', page, re.S)
    return {
        name: " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split()) for name, text in found
    }


async def no_wait(_: float) -> None:
    """The budget's pause between calls, skipped (the row's times move as if it was kept)."""


class Figma:
    """Figma's API as the client meets it: each call answered by the next status given."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["x-figma-token"] == FIGMA_TOKEN
        status = self.statuses.pop(0)
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": "30",
                                                "X-Figma-Rate-Limit-Type": "low"})  # fmt: skip
        if status >= 500:
            return httpx.Response(status, json={"err": "unavailable"})
        return httpx.Response(200, json={"id": "1", "handle": "anna"})


async def test_the_form_saves_plan_seat_and_override_and_the_page_shows_them(site):
    csrf = await site.sign_in("admin")
    page = (await site.client.get("/t/acme/settings")).text
    assert (selected(page, "figma_plan"), selected(page, "figma_seat")) == ("professional", "full")
    assert override_field(page) == ("", "25 (plan and seat)")

    saved = await site.client.post("/t/acme/settings", data=settings_form(
        csrf, figma_plan="organization", figma_seat="dev", figma_requests_per_minute=""))  # fmt: skip
    assert saved.status_code == 200 and 'data-code="settings.saved"' in saved.text
    stored = await site.teams.get("acme")
    assert (stored.figma_plan, stored.figma_seat) == ("organization", "dev")
    assert stored.figma_requests_per_minute is None
    assert (selected(saved.text, "figma_plan"), selected(saved.text, "figma_seat")) == (
        "organization", "dev")  # fmt: skip
    assert override_field(saved.text) == ("", "50 (plan and seat)")

    # An override, through htmx as the page posts it: the settings body comes back.
    htmx = {"HX-Request": "true"}
    saved = await site.client.post(
        "/t/acme/settings", headers=htmx, data=settings_form(
            csrf, figma_plan="organization", figma_seat="dev", figma_requests_per_minute="120"),
    )  # fmt: skip
    assert saved.status_code == 200 and "<html" not in saved.text
    assert (await site.teams.get("acme")).figma_requests_per_minute == 120
    assert override_field(saved.text)[0] == "120"
    assert budget_card(saved.text)["none"].startswith("No Figma token is set for this team")

    # With the team's Figma token set on the same page, the card shows the budget.
    secrets = await site.client.post("/t/acme/secrets", data={"csrf": csrf,
                                                              "figma_token": FIGMA_TOKEN})  # fmt: skip
    assert secrets.status_code == 200 and FIGMA_TOKEN not in secrets.text
    card = budget_card(secrets.text)
    assert card["limit"] == "override: 120/min (the Organization plan with a Dev seat gives 50/min)"
    assert card["pace"] == "95 % of it: 114 requests/min, one call every 0.5 s"

    # Emptying the override follows the plan and seat again.
    saved = await site.client.post("/t/acme/settings", data=settings_form(
        csrf, figma_plan="organization", figma_seat="dev", figma_requests_per_minute=" "))  # fmt: skip
    assert (await site.teams.get("acme")).figma_requests_per_minute is None
    assert budget_card(saved.text)["limit"] == "50 requests/min — Organization plan, Dev seat"

    # The API reads and changes the same settings.
    api = await site.client.get("/api/teams/acme/settings", headers=site.api())
    assert {k: api.json()[k] for k in ("figma_plan", "figma_seat", "figma_requests_per_minute")} == {
        "figma_plan": "organization", "figma_seat": "dev", "figma_requests_per_minute": None}  # fmt: skip
    patched = await site.client.patch("/api/teams/acme/settings", headers=site.api(),
                                      json={"figma_seat": "view"})  # fmt: skip
    assert patched.status_code == 200 and patched.json()["figma_seat"] == "view"
    page = (await site.client.get("/t/acme/settings")).text
    assert budget_card(page)["limit"] == "5 requests/min — Organization plan, View seat"
    assert FIGMA_TOKEN not in page


async def test_bad_figma_settings_are_refused_and_nothing_changes(site):
    csrf = await site.sign_in("admin")
    before = await site.teams.get("acme")
    refusals = [
        ({"figma_plan": "gold"}, "figma_plan: Input should be 'starter', 'professional'"),
        ({"figma_seat": "owner"}, "figma_seat: Input should be 'view', 'collab', 'dev' or 'full'"),
        ({"figma_requests_per_minute": "lots"},
         "figma_requests_per_minute: 'lots' is not a number of requests per minute"),
        ({"figma_requests_per_minute": "0"}, "figma_requests_per_minute: 0 is not a budget"),
        ({"figma_requests_per_minute": "-5"}, "figma_requests_per_minute: -5 is not a budget"),
        ({"figma_requests_per_minute": "inf"}, "figma_requests_per_minute: inf is not a budget"),
        ({"figma_requests_per_minute": "20000"}, "above 0 and at most 10000"),
    ]  # fmt: skip
    for figma, message in refusals:
        form = settings_form(csrf, **{"figma_plan": "enterprise", "figma_seat": "full", **figma})
        page = await site.client.post("/t/acme/settings", data=form)
        assert page.status_code == 422, figma
        assert 'data-code="settings.invalid"' in page.text, figma
        assert message in html.unescape(page.text), (figma, page.text)
        # Through htmx only the error comes back, into the flash slot; the form keeps its input.
        flash = await site.client.post("/t/acme/settings", data=form,
                                       headers={"HX-Request": "true"})  # fmt: skip
        assert flash.status_code == 422 and flash.headers["hx-retarget"] == "#form-flash"
        assert "settings.invalid" in flash.text and message in html.unescape(flash.text)
    for body in [{"figma_plan": "gold"}, {"figma_plan": None}, {"figma_seat": None},
                 {"figma_requests_per_minute": 0}, {"figma_requests_per_minute": -1}]:  # fmt: skip
        refused = await site.client.patch("/api/teams/acme/settings", json=body,
                                          headers=site.api())  # fmt: skip
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] == "request.invalid"
        assert next(iter(body)) in refused.json()["error"]["message"]
    after = await site.teams.get("acme")
    assert after.version == before.version
    assert (after.figma_plan, after.figma_seat, after.figma_requests_per_minute) == (
        "professional", "full", None)  # fmt: skip


async def test_the_budget_card_shows_the_calls_of_the_teams_token(site):
    await site.teams.change("acme", {}, secrets={"figma_token": FIGMA_TOKEN})
    await site.sign_in("member")  # members read the card too
    figma = Figma()
    client = FigmaClient(
        httpx.AsyncClient(transport=httpx.MockTransport(figma)), "https://figma.test",
        budgets=SharedBudgets(site.pool, sleep=no_wait, max_wait=120),
    )  # fmt: skip
    per_minute = team_per_minute(await site.teams.get("acme"))  # as the figma service paces

    async def card() -> dict[str, str]:
        page = (await site.client.get("/t/acme/settings")).text
        assert FIGMA_TOKEN not in page
        return budget_card(page)

    before = await card()
    assert before["limit"] == "25 requests/min — Professional plan, Full seat"
    assert before["last-minute"] == "0 calls, 0.0% of the budget (0 so far in this minute)"
    assert (before["limited"], before["circuit"]) == ("0", "closed")

    # Two calls, then Figma answers 429: every call is counted, the 429 too.
    figma.statuses = [200, 200, 429]
    await client.me(FIGMA_TOKEN, per_minute=per_minute)
    await client.me(FIGMA_TOKEN, per_minute=per_minute)
    with pytest.raises(WaitError):
        await client.me(FIGMA_TOKEN, per_minute=per_minute)
    now = await card()
    assert now["pace"] == "95 % of it: 23.75 requests/min, one call every 2.5 s"
    assert now["last-minute"] == "0 calls, 0.0% of the budget (3 so far in this minute)"
    assert re.fullmatch(r"1 the last at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", now["limited"])
    assert now["circuit"] == "closed"

    # A minute on, those calls are the last full minute's.
    await site.pool.execute(
        "UPDATE rate_budgets SET window_start = window_start - interval '70 seconds'"
    )
    assert (await card())["last-minute"] == (
        "3 calls, 12.0% of the budget (0 so far in this minute)"
    )
    await site.teams.change("acme", {"figma_requests_per_minute": 100})
    overridden = await card()
    assert overridden["limit"] == (
        "override: 100/min (the Professional plan with a Full seat gives 25/min)"
    )
    assert overridden["last-minute"] == "3 calls, 3.0% of the budget (0 so far in this minute)"

    # Two minutes on, nothing was called in the last full minute (no call moved the window).
    await site.pool.execute(
        "UPDATE rate_budgets SET window_start = window_start - interval '60 seconds'"
    )
    assert (await card())["last-minute"] == "0 calls, 0.0% of the budget (0 so far in this minute)"

    # Five failures in a row open the circuit for every replica; the fragment refreshes it.
    figma.statuses = [503] * 5
    for _ in range(5):
        with pytest.raises(RetryableError):
            await client.me(FIGMA_TOKEN, per_minute=100)
    fragment = await site.client.get("/t/acme/fragments/figma-budget")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert FIGMA_TOKEN not in fragment.text
    opened = budget_card(fragment.text)
    assert re.fullmatch(r"open after 5 failures in a row: no replica calls Figma with this "
                        r"token for (29|30) s more", opened["circuit"]), opened  # fmt: skip
    assert opened["last-minute"] == "0 calls, 0.0% of the budget (5 so far in this minute)"
    assert opened["limited"].startswith("1 ")
    await site.pool.execute("UPDATE rate_budgets SET open_until = clock_timestamp()")
    assert (await card())["circuit"] == "half-open the next call is a trial"
    await client.http.aclose()


async def test_without_a_figma_token_the_card_says_so(site, event_store):
    # Another team's token has a budget in use; it is not acme's.
    await site.teams.change("globex", {}, secrets={"figma_token": "figd_globex"})
    await site.pool.execute(
        """INSERT INTO rate_budgets (key, tat, interval_s, window_start, window_calls, limited)
           VALUES ($1, now(), 2.5, now(), 7, 3)""",
        "figma:" + credential_key("figd_globex"),
    )
    await site.sign_in("admin")
    card = budget_card((await site.client.get("/t/acme/settings")).text)
    assert list(card) == ["none"]
    assert card["none"] == (
        "No Figma token is set for this team, so there is no Figma budget in use. "
        "Set one under Secrets below."
    )
    fragment = budget_card((await site.client.get("/t/acme/fragments/figma-budget")).text)
    assert fragment == card
    # A token sealed with another key cannot be read: the card says so, the page still works.
    elsewhere = TeamRepository(event_store, SecretBox(generate_key()))
    await elsewhere.change("acme", {}, secrets={"figma_token": FIGMA_TOKEN})
    page = await site.client.get("/t/acme/settings")
    assert page.status_code == 200 and FIGMA_TOKEN not in page.text
    assert budget_card(page.text)["none"].startswith(
        "The team's Figma token could not be read (secrets.key_mismatch:"
    )
