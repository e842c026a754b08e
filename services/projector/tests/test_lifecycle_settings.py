"""The thread lifecycle's team settings: on by default, changed by admins through the API and
the Settings form (unchecked boxes turn a behaviour off), and recorded like every setting."""

import pytest
from test_access import bearer, build, client, csrf_of

from figsync_projector.auth import issue_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration

BOXES = ("reactions_enabled", "thread_updates_enabled", "done_replies_enabled",
         "figma_resolve_completes_task")  # fmt: skip


@pytest.fixture
async def teams(event_store):
    repo = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await repo.change("acme", {"name": "Acme"})
    return repo


async def test_lifecycle_settings_by_api_and_by_form(event_store, teams):
    before = await teams.get("acme")
    assert all(getattr(before, box) for box in BOXES)
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        patched = await http.patch(
            "/api/teams/acme/settings", headers=bearer(admin.token),
            json={"reactions_enabled": False, "done_template": "Done: {title} {url}",
                  "notion_done_status": "Shipped"},
        )  # fmt: skip
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["reactions_enabled"] is False and body["notion_done_status"] == "Shipped"
        refused = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                   json={"reactions_enabled": "maybe"})  # fmt: skip
        assert refused.status_code == 422

        csrf = await csrf_of(http, admin.token, "/t/acme/settings")
        page = (await http.get("/t/acme/settings")).text
        assert 'id="lifecycle"' in page and "Shipped" in page
        form = {"csrf": csrf, "form": "1", "thread_updates_enabled": "on",
                "done_template": "", "notion_done_status": "Done"}  # fmt: skip
        saved = await http.post("/t/acme/settings", data=form)
        assert saved.status_code == 200, saved.text
    settings = await teams.get("acme")
    assert settings.thread_updates_enabled is True
    assert not any(getattr(settings, b) for b in BOXES if b != "thread_updates_enabled")
    assert settings.done_template is None and settings.notion_done_status == "Done"
