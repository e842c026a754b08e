"""The real ingest process under the same kind of input, over real HTTP: no 5xx, and it is
still alive and healthy afterwards (nothing crashed it, nothing hung it)."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from fuzz_testing import SENT, budget, check_answer

pytestmark = pytest.mark.e2e

ENDPOINTS = ["email", "email/mime", "mailgun", "sendgrid", "postmark", "figma"]
TYPES = ["application/json", "message/rfc822", "application/x-www-form-urlencoded",
         "multipart/form-data; boundary=x", "text/plain", ""]  # fmt: skip


def inputs(count: int, seed: int = 12):
    rng = random.Random(seed)
    for n in range(count):
        endpoint = rng.choice(ENDPOINTS)
        prefix = rng.choice(["/v1/inbound", "/v1/teams/default/inbound", "/v1/teams/x/inbound"])
        kind = n % 3
        if kind == 0:
            body = rng.randbytes(rng.randint(0, 3000))
        elif kind == 1:
            body = json.dumps({k: rng.choice([None, "x" * rng.randint(0, 500), 1, [], {}])
                               for k in rng.sample(["from", "to", "html", "messageId",
                                                    "event_type", "passcode", "file_key",
                                                    "comment_id", "HtmlBody"], 4)}).encode()  # fmt: skip
        else:
            body = b"From: a@b.c\r\nMessage-ID: <x@y>\r\n\r\n" + rng.randbytes(200)
        headers = {"content-type": rng.choice(TYPES), "webhook-id": f"msg_{n}",
                   "webhook-timestamp": str(rng.randint(0, 2**40)),
                   "webhook-signature": "v1," + rng.randbytes(32).hex()}  # fmt: skip
        yield f"{prefix}/{endpoint}", body, headers


def test_the_ingest_process_survives_generated_input(spawn):
    process = spawn(
        "figsync_ingest.main",
        FIGSYNC_EMAIL_WEBHOOK_SECRET="whsec_ZnV6ei1wcm9jZXNzLXNlY3JldC0wMTIzNDU2Nzg5",
        FIGSYNC_FIGMA_WEBHOOK_PASSCODE="fuzz-passcode",
        FIGSYNC_RATE_PER_SOURCE="0",
        FIGSYNC_RATE_PER_TEAM="0",
    )
    count = budget(400).max_examples
    with httpx.Client(base_url=process.url, timeout=30) as http:
        for path, body, headers in inputs(count):
            check_answer("process.ingest", http.post(path, content=body, headers=headers))
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
    assert process.process.poll() is None, process.logs()[-3000:]
    assert "Traceback" not in process.logs(), process.logs()[-3000:]


def test_the_suite_sent_at_least_ten_thousand_inputs():
    """Runs last: the whole fuzz suite (all targets) sent the promised number of inputs."""
    targets = {t.split(".")[0] for t in SENT}
    if not {"ingest", "settings", "projector", "process"} <= targets:
        pytest.skip("only part of the fuzz suite ran")
    from fuzz_testing import SCALE

    total = sum(SENT.values())
    print(f"\nfuzz inputs sent: {total} " + ", ".join(f"{k}={v}" for k, v in sorted(SENT.items())))
    assert total >= 10_000 * min(SCALE, 1.0), dict(SENT)
