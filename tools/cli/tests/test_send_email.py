import json
import subprocess
import sys

import pytest

from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID
from figsync_sandbox.emails import comment_email_message
from figsync_sandbox.figma import FigmaState
from figsync_sandbox.fixtures import figma_mention_email

pytestmark = pytest.mark.integration

SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXNlbmQtZW1haWw="
FIXTURE = figma_mention_email().parent


def send(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "figsync_cli.main", "send-email", *args],
        capture_output=True, text=True, timeout=60,
        env={"FIGSYNC_EMAIL_WEBHOOK_SECRET": secret, "PATH": ""},
    )  # fmt: skip


def test_send_email_signs_and_posts_html_and_eml(spawn, tmp_path):
    ingest = spawn("figsync_ingest.main", FIGSYNC_EMAIL_WEBHOOK_SECRET=SECRET)
    html = send(str(FIXTURE / "figma-mention.html"), "--ingest", ingest.url,
                "--sender", f"comments-{DEFAULT_FILE_KEY}@email.figma.com",
                "--message-id", "<fixture-1@figsync.test>")  # fmt: skip
    assert html.returncode == 0, html.stderr + html.stdout
    first = json.loads(html.stdout.splitlines()[0])
    assert first["status"] == "accepted"
    again = send(str(FIXTURE / "figma-mention.html"), "--ingest", ingest.url,
                 "--message-id", "<fixture-1@figsync.test>")  # fmt: skip
    assert json.loads(again.stdout.splitlines()[0]) == {
        "status": "duplicate",
        "job_id": first["job_id"],
    }

    eml = tmp_path / "reply.eml"
    eml.write_bytes(
        comment_email_message(FigmaState(), DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID).as_bytes()
    )
    mime = send(str(eml), "--ingest", ingest.url)
    assert json.loads(mime.stdout.splitlines()[0])["status"] == "accepted", mime.stdout

    wrong = send(str(eml), "--ingest", ingest.url, secret="whsec_d3Jvbmctc2VjcmV0LXZhbHVlLTEyMzQ=")
    assert wrong.returncode == 1 and "signature" in wrong.stdout


def test_status_without_a_token_says_how_to_get_one(spawn):
    projector = spawn("figsync_projector.main")
    result = subprocess.run(
        [sys.executable, "-m", "figsync_cli.main", "status", "some-job", "--api", projector.url],
        capture_output=True, text=True, timeout=60, env={"PATH": ""},
    )  # fmt: skip
    assert result.returncode == 1
    assert "status.unauthorized: set FIGSYNC_API_TOKEN" in result.stderr
