"""A team's AI instructions and its cheaper model for small threads: set by admins through the
API and the Settings form, validated (length, control characters, model names, bounds), shown
back escaped, and recorded like every setting."""

import json
import uuid

import httpx
import pytest
from test_access import bearer, build, client, csrf_of

from figsync_projector.ai_preview import AiPreview
from figsync_projector.auth import issue_token
from figsync_runtime.internal import SUMMARY_PREVIEW, internal_token
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


REPORT = {
    "preview_id": "00000000-0000-4000-8000-000000000001",
    "thread": {"kind": "sample", "job_id": None, "file_name": "Checkout redesign (sample)",
               "comments": [{"author": "Alex", "text": "<b>swap</b> the card form"}], "size": 25},
    "model": "claude-haiku-4-5", "simple_model": True, "instructions": True,
    "summary": {"title": "[Design] Swap the card form", "summary": "Alex asks Sam to swap it.",
                "action_items": ["Swap the card form"], "priority": "high", "category": "design"},
    "source": "ai", "fallback_reason": None, "prompt_version": "summary-v2",
    "input_tokens": 900, "output_tokens": 120, "cost_usd": "0.0015",
    "spent_this_month_usd": "0.0415", "budget_usd": "5",
}  # fmt: skip


class Summarizer:
    """The summarizer's preview route as the projector sees it: records what it was asked."""

    def __init__(self, status: int = 200, body: dict | None = None) -> None:
        self.asked: list[httpx.Request] = []
        self.status, self.body = status, body if body is not None else REPORT

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        if request.headers.get("x-figsync-internal") != internal_token(
            DEVELOPMENT_KEY, SUMMARY_PREVIEW
        ):
            return httpx.Response(403, json={"error": {"code": "auth.internal_only"}})
        return httpx.Response(self.status, json=self.body)

    def body_of(self, n: int = -1) -> dict:
        return json.loads(self.asked[n].content)


def with_preview(event_store, teams, summarizer: Summarizer):
    app = build(event_store, teams)
    preview = AiPreview("http://summarizer.test", DEVELOPMENT_KEY,
                        transport=httpx.MockTransport(summarizer))  # fmt: skip
    app.state.api.ai_preview = app.state.dashboard.ai_preview = preview
    return app


async def test_the_preview_api_asks_the_summarizer_with_the_draft_for_admins_only(
    event_store, teams
):
    summarizer = Summarizer()
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    member = await issue_token(event_store.pool, "acme", "member", name="reader")
    async with client(with_preview(event_store, teams, summarizer)) as http:
        asked = await http.post(
            "/api/teams/acme/settings/ai-preview", headers=bearer(admin.token),
            json={"job_id": "job-1", "draft": {"ai_instructions": " Be brief. ",
                                               "ai_simple_max_chars": 500}},
        )  # fmt: skip
        assert asked.status_code == 200, asked.text
        assert asked.json()["summary"]["title"] == "[Design] Swap the card form"
        sent = summarizer.body_of()
        assert sent["team"] == "acme" and sent["job_id"] == "job-1"
        assert sent["draft"] == {"ai_instructions": "Be brief.", "ai_simple_max_chars": 500}
        assert sent["requested_by"].startswith("token:") and "ops" in sent["requested_by"]
        uuid.UUID(sent["preview_id"])

        refused = await http.post("/api/teams/acme/settings/ai-preview",
                                  headers=bearer(member.token), json={})  # fmt: skip
        assert refused.status_code == 403
        for bad in ({"draft": {"ai_instructions": "\x00"}}, {"draft": {"ai_enabled": False}},
                    {"draft": {"ai_simple_max_chars": -1}}, {"preview_id": "nope"},
                    {"job_id": ""}):  # fmt: skip
            answer = await http.post("/api/teams/acme/settings/ai-preview",
                                     headers=bearer(admin.token), json=bad)  # fmt: skip
            assert answer.status_code == 422, (bad, answer.text)
        assert len(summarizer.asked) == 1  # nothing refused reached the summarizer


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (409, {"error": {"code": "preview.repeated", "message": "ran already"}}, 409,
         "preview.repeated"),
        (404, {"error": {"code": "job.not_found", "message": "no job"}}, 404, "job.not_found"),
        (500, {"error": {"code": "boom", "message": "internal"}}, 503, "preview.unavailable"),
        (200, {"not": "a report"}, 503, "preview.unavailable"),
    ],
)  # fmt: skip
async def test_the_summarizers_refusals_pass_through_and_its_failures_are_503(
    event_store, teams, status, body, expected, code
):
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(with_preview(event_store, teams, Summarizer(status, body))) as http:
        answer = await http.post("/api/teams/acme/settings/ai-preview",
                                 headers=bearer(admin.token), json={})  # fmt: skip
    assert answer.status_code == expected and answer.json()["error"]["code"] == code


async def test_the_settings_form_previews_what_is_typed_and_saves_nothing(event_store, teams):
    await teams.change("acme", {"ai_model": "claude-sonnet-4-6"})
    summarizer = Summarizer()
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(with_preview(event_store, teams, summarizer)) as http:
        csrf = await csrf_of(http, admin.token, "/t/acme/settings")
        page = (await http.get("/t/acme/settings")).text
        assert 'id="ai-preview-button"' in page and '<option value="sample">' in page
        form = {"csrf": csrf, "form": "1", "name": "Acme", "ai_model": "claude-sonnet-4-6",
                "ai_instructions": 'Prefix titles with "[Design] ".', "ai_simple_model": "",
                "ai_simple_max_chars": "", "preview_thread": "sample"}  # fmt: skip
        shown = await http.post("/t/acme/settings/ai-preview", data=form,
                                headers={"HX-Request": "true"})  # fmt: skip
        assert shown.status_code == 200, shown.text
        assert 'data-preview="ai"' in shown.text and "[Design] Swap the card form" in shown.text
        assert "cost $0.0015" in shown.text and "$0.04 spent this month of $5.00" in shown.text
        assert "&lt;b&gt;swap&lt;/b&gt;" in shown.text  # the thread, escaped
        # Only what differs from the saved settings is tried as a draft.
        assert summarizer.body_of()["draft"] == {
            "ai_instructions": 'Prefix titles with "[Design] ".'
        }
        assert summarizer.body_of()["job_id"] is None

        bad = await http.post("/t/acme/settings/ai-preview",
                              data={**form, "ai_simple_max_chars": "lots"})  # fmt: skip
        assert 'data-preview="refused"' in bad.text and "ai_simple_max_chars" in bad.text
        no_csrf = await http.post("/t/acme/settings/ai-preview",
                                  data={k: v for k, v in form.items() if k != "csrf"})  # fmt: skip
        assert no_csrf.status_code == 403
    assert len(summarizer.asked) == 1
    assert (await teams.get("acme")).ai_instructions is None
