"""The ingest service as its own process: configured from the environment, serving its API."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from ingest_testing import EMAIL_SECRET, PASSCODE, standard_headers

pytestmark = pytest.mark.e2e


def test_the_process_accepts_a_signed_email_once_and_publishes_its_openapi(spawn):
    ingest = spawn(
        "figsync_ingest.main",
        FIGSYNC_EMAIL_WEBHOOK_SECRET=EMAIL_SECRET,
        FIGSYNC_FIGMA_WEBHOOK_PASSCODE=PASSCODE,
    )
    body = json.dumps(
        {"from": "Figma <comments-K1@email.figma.com>", "to": "you@example.com", "subject": "s",
         "html": "<p>hi</p>", "timestamp": "2026-01-05T09:31:00Z",
         "messageId": f"<{uuid.uuid4().hex}@email.figma.com>"}
    ).encode()  # fmt: skip
    first = httpx.post(
        f"{ingest.url}/v1/inbound/email", content=body, headers=standard_headers(body)
    )
    assert first.status_code == 202, first.text + ingest.logs()[-2000:]
    again = httpx.post(
        f"{ingest.url}/v1/inbound/email", content=body, headers=standard_headers(body)
    )
    assert again.json() == {"status": "duplicate", "job_id": first.json()["job_id"]}
    unsigned = httpx.post(
        f"{ingest.url}/v1/inbound/email", content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401
    ping = httpx.post(
        f"{ingest.url}/v1/inbound/figma", json={"event_type": "PING", "passcode": PASSCODE}
    )
    assert ping.json() == {"status": "ok"}
    spec = httpx.get(f"{ingest.url}/openapi.json").json()
    assert "/v1/teams/{team}/inbound/postmark" in spec["paths"]
    assert httpx.get(f"{ingest.url}/readyz").status_code == 200
    assert "figsync_ingest_requests_total" in httpx.get(f"{ingest.url}/metrics").text
    assert EMAIL_SECRET not in ingest.logs()
    assert ingest.stop() == 0
