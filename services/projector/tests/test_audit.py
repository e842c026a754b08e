"""The audit trail you can read: settings and secrets changed (names only), tokens issued,
rotated and revoked, members, retries and manual syncs — who, when, what — in the dashboard,
the API and `figsync audit`, and never a secret value."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from projector_histories import append, previewed
from test_access import (
    bearer,
    build,
    client,
    csrf_of,
)

from figsync_contracts import EmailReceived, JobFailed, new_envelope, summary_preview_stream_id
from figsync_projector.auth import issue_token, revoke_token, rotate_token
from figsync_projector.commands import request_retry, request_sync
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = pytest.mark.integration


@pytest.fixture
async def teams(event_store):
    repo = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY), cache_seconds=0)
    await repo.change("acme", {"name": "Acme"})
    return repo


SECRET_VALUE = "figd_audited-secret-value-never-shown"


async def test_every_kind_of_change_is_in_the_trail_without_a_secret(event_store, teams):
    await teams.change("acme", {"tracked_mentions": ["@anna"]}, changed_by="ann@acme.test")
    await teams.change(
        "acme", {}, secrets={"figma_token": SECRET_VALUE}, changed_by="ann@acme.test"
    )
    admin = await issue_token(event_store.pool, "acme", "admin", name="ops")
    member = await issue_token(event_store.pool, "acme", "member", name="ci")
    rotated = await rotate_token(event_store.pool, "acme", member.token_id, actor="ann@acme.test")
    await revoke_token(event_store.pool, "acme", rotated.token_id, actor="ann@acme.test")
    await request_sync(event_store, "acme", "FileKey0000000001", requested_by="bob@acme.test")
    preview = previewed(cost="0.0042", model="claude-haiku-4-5")
    await append(event_store, summary_preview_stream_id("acme", preview.preview_id), preview)
    app = build(event_store, teams)
    async with client(app) as http:
        trail = (await http.get("/api/teams/acme/audit", headers=bearer(admin.token))).json()
        actions = [(e["action"], e["actor"]) for e in trail]
        for expected in [
            ("settings.changed", "ann@acme.test"),
            ("secret.set", "ann@acme.test"),
            ("token.issued", "unknown"),
            ("token.rotated", "ann@acme.test"),
            ("token.revoked", "ann@acme.test"),
            ("sync.requested", "bob@acme.test"),
            ("ai.previewed", "token:abc (ops)"),
        ]:
            assert any(a == expected[0] for a, _ in actions), (expected, actions)
        assert ("secret.set", "ann@acme.test") in actions
        [seen] = [e for e in trail if e["action"] == "ai.previewed"]
        assert seen["target"] == "sample"
        assert (seen["details"]["model"], seen["details"]["cost_usd"]) == ("claude-haiku-4-5",
                                                                          "0.0042")  # fmt: skip
        assert [e["position"] for e in trail] == sorted(
            (e["position"] for e in trail), reverse=True
        )
        assert SECRET_VALUE not in json.dumps(trail)
        assert (
            await http.get("/api/teams/acme/audit", headers=bearer(member.token))
        ).status_code in (401, 403)

        await csrf_of(http, admin.token, "/t/acme/settings")
        page = (await http.get("/t/acme/audit")).text
        assert 'data-action="secret.set"' in page and "figma_token" in page
        assert 'data-action="sync.requested"' in page
        assert SECRET_VALUE not in page


async def test_retries_are_in_the_trail_and_the_cli_prints_it(event_store, teams, database_url):
    received = new_envelope(
        EmailReceived(transport="json", message_id="m-audit", sender="s", recipients=["r"],
                      subject="", html="<p/>", received_at=datetime.now(UTC)),
        stream_id="job-audited", team="acme", source="/tests",
    )  # fmt: skip
    failed = new_envelope(
        JobFailed(step="figma", code="figma.unauthorized", message="no", attempts=1),
        stream_id="job-audited", team="acme", source="/tests", causation=received,
    )  # fmt: skip
    await event_store.append("job-audited", [received, failed], expected_version=0)
    await request_retry(event_store, "job-audited", team="acme", requested_by="carol@acme.test")
    shown = await asyncio.to_thread(figsync, database_url, "audit", "acme", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    entries = json.loads(shown.stdout)
    assert any(
        e["action"] == "job.retry" and e["actor"] == "carol@acme.test"
        and e["target"] == "job-audited" for e in entries
    ), entries  # fmt: skip
    table = await asyncio.to_thread(figsync, database_url, "audit", "acme")
    assert "job.retry" in table.stdout and "carol@acme.test" in table.stdout


def figsync(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIGSYNC_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "figsync_cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
