import base64
import subprocess
import sys

import asyncpg
import pytest

from figsync_eventstore.migrate import migrations

pytestmark = pytest.mark.integration


def figsync(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "figsync_cli.main", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


async def test_figsync_migrate_creates_the_store_and_is_idempotent(postgres_url):
    admin = await asyncpg.connect(postgres_url)
    await admin.execute("CREATE DATABASE cli_migrate")
    url = postgres_url.rsplit("/", 1)[0] + "/cli_migrate"
    try:
        first = figsync("migrate", env={"FIGSYNC_DATABASE_URL": url, "PATH": ""})
        assert first.returncode == 0, first.stderr
        every = [m.version for m in migrations()]
        assert f"migrations applied: {every}" in first.stdout
        second = figsync("migrate", env={"FIGSYNC_DATABASE_URL": url, "PATH": ""})
        assert "up to date" in second.stdout
    finally:
        await admin.execute("DROP DATABASE cli_migrate WITH (FORCE)")
        await admin.close()


def test_figsync_migrate_without_a_database_says_what_to_set():
    result = figsync("migrate", env={"PATH": ""})
    assert result.returncode == 2
    assert "FIGSYNC_DATABASE_URL" in result.stderr


def test_secret_key_prints_a_usable_key():
    key = figsync("secret-key").stdout.strip()
    assert len(base64.urlsafe_b64decode(key)) == 32


def test_parse_email_prints_the_real_fixture_as_json():
    import json

    from figsync_sandbox.fixtures import figma_mention_email

    result = figsync("parse-email", str(figma_mention_email()))
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert (parsed["kind"], parsed["author"], parsed["mentions"]) == (
        "mention", "Maarten", ["@testfigma"],
    )  # fmt: skip


def test_parse_email_reads_a_raw_message(tmp_path):
    from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID
    from figsync_sandbox.emails import comment_email_message
    from figsync_sandbox.figma import FigmaState

    eml = tmp_path / "mention.eml"
    eml.write_bytes(
        comment_email_message(FigmaState(), DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID).as_bytes()
    )
    result = figsync("parse-email", str(eml))
    assert '"file_key": "' + DEFAULT_FILE_KEY in result.stdout


def test_parse_email_names_the_problem_for_a_missing_file():
    result = figsync("parse-email", "/nonexistent.html")
    assert result.returncode == 2 and "parse.unreadable_file" in result.stderr


@pytest.mark.unit
def test_dev_uses_the_sandbox_only_where_no_real_token_or_url_is_configured():
    from figsync_cli.dev import sandboxed_providers

    assert sandboxed_providers({}) == ["figma", "notion", "anthropic"]
    assert sandboxed_providers({"FIGMA_API_TOKEN": "figd_x"}) == ["notion", "anthropic"]
    assert sandboxed_providers({"FIGSYNC_NOTION_API_URL": "https://notion.internal"}) == [
        "figma", "anthropic",
    ]  # fmt: skip
