"""How many tasks one thread may become: a team setting of the API and the Settings form,
1 to 5, one by default."""

import pytest
from test_access import bearer, build, client, csrf_of

from figsync_projector.auth import issue_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration


async def test_tasks_per_thread_by_api_and_by_form(event_store):
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await teams.change("acme", {"name": "Acme"})
    assert (await teams.get("acme")).max_tasks_per_thread == 1
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    async with client(build(event_store, teams)) as http:
        for bad in (0, 6, "many"):
            refused = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                       json={"max_tasks_per_thread": bad})  # fmt: skip
            assert refused.status_code == 422, bad
        patched = await http.patch("/api/teams/acme/settings", headers=bearer(admin.token),
                                   json={"max_tasks_per_thread": 3})  # fmt: skip
        assert patched.status_code == 200 and patched.json()["max_tasks_per_thread"] == 3

        csrf = await csrf_of(http, admin.token, "/t/acme/settings")
        assert 'name="max_tasks_per_thread"' in (await http.get("/t/acme/settings")).text
        saved = await http.post("/t/acme/settings",
                                data={"csrf": csrf, "max_tasks_per_thread": "5"})  # fmt: skip
        assert saved.status_code == 200, saved.text
        wrong = await http.post("/t/acme/settings",
                                data={"csrf": csrf, "max_tasks_per_thread": "9"})  # fmt: skip
        assert "is not 1 to 5" in wrong.text
    assert (await teams.get("acme")).max_tasks_per_thread == 5
