"""A team's AI instructions and its cheaper model for small threads: set by admins through the
API and the Settings form, validated (length, control characters, model names, bounds), shown
back escaped, and recorded like every setting."""

import pytest
from test_access import bearer, build, client, csrf_of

from figsync_projector.auth import issue_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import AI_INSTRUCTIONS_MAX, TeamRepository

pytestmark = pytest.mark.integration

INSTRUCTIONS = 'Write in German.\nPrefix titles with "[Design] ".'


@pytest.fixture
async def teams(event_store):
    repo = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await repo.change("acme", {"name": "Acme"})
    return repo


async def test_ai_settings_by_api(event_store, teams):
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    member = await issue_token(event_store.pool, "acme", "member", name="reader")
    async with client(build(event_store, teams)) as http:
        patched = await http.patch(
            "/api/teams/acme/settings", headers=bearer(admin.token),
            json={"ai_instructions": INSTRUCTIONS.replace("\n", "\r\n") + "  ",
                  "ai_simple_model": "claude-haiku-4-5", "ai_simple_max_chars": 1500},
        )  # fmt: skip
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["ai_instructions"] == INSTRUCTIONS
        assert (body["ai_simple_model"], body["ai_simple_max_chars"]) == ("claude-haiku-4-5", 1500)

        refused = await http.patch("/api/teams/acme/settings", headers=bearer(member.token),
                                   json={"ai_instructions": "Be rude."})  # fmt: skip
        assert refused.status_code == 403

        for bad in (
            {"ai_instructions": "x" * (AI_INSTRUCTIONS_MAX + 1)},
            {"ai_instructions": "bell\x07"},
            {"ai_instructions": ["a list"]},
            {"ai_simple_model": "claude haiku"},
            {"ai_simple_max_chars": -5},
            {"ai_simple_max_chars": 10**9},
            {"ai_simple_max_chars": "many"},
        ):
            answer = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                      json=bad)  # fmt: skip
            assert answer.status_code == 422, (bad, answer.text)

        cleared = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                   json={"ai_instructions": "", "ai_simple_max_chars": None})  # fmt: skip
        assert cleared.json()["ai_instructions"] is None
        assert cleared.json()["ai_simple_max_chars"] is None
    settings = await teams.get("acme")
    assert settings.ai_simple_model == "claude-haiku-4-5"  # untouched by the later patch


async def test_ai_settings_by_form_are_shown_back_escaped(event_store, teams):
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        csrf = await csrf_of(http, admin.token, "/t/acme/settings")
        hostile = "</textarea><script>alert(1)</script> Write in French."
        form = {"csrf": csrf, "form": "1", "ai_instructions": hostile,
                "ai_simple_model": " claude-haiku-4-5 ", "ai_simple_max_chars": " 800 "}  # fmt: skip
        saved = await http.post("/t/acme/settings", data=form)
        assert saved.status_code == 200, saved.text
        page = (await http.get("/t/acme/settings")).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt; Write in French." in page

        bad = await http.post("/t/acme/settings",
                              data={**form, "ai_simple_max_chars": "lots"})  # fmt: skip
        assert bad.status_code == 422 and "ai_simple_max_chars" in bad.text
    settings = await teams.get("acme")
    assert settings.ai_instructions == hostile
    assert (settings.ai_simple_model, settings.ai_simple_max_chars) == ("claude-haiku-4-5", 800)
