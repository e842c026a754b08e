"""Who may reach the ingest: the global and the per-team network allow-lists behind trusted
proxies, and the security headers on every response."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from ingest_testing import ACME_ADDRESS, ACME_SECRET, standard_headers

from figsync_runtime.http import add_health_routes

pytestmark = pytest.mark.integration


def email_body() -> bytes:
    return json.dumps({
        "from": "Maarten (via Figma) <comments-AbC123xyz@email.figma.com>",
        "to": "you@example.com", "subject": "Maarten mentioned you", "html": "<p>hi</p>",
        "timestamp": "2026-01-05T09:31:00Z", "messageId": f"<{uuid.uuid4().hex}@figma>",
    }).encode()  # fmt: skip


async def test_the_global_allow_list_refuses_other_networks_but_not_the_probes(make_harness):
    outside = await make_harness(peer=("203.0.113.9", 5000), allowed_networks=["10.0.0.0/8"])
    add_health_routes(outside.app, {})
    refused = await outside.post_email(email_body())
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "access.network_refused"
    assert "203.0.113.9" in refused.json()["error"]["message"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert (await outside.client.get("/openapi.json")).status_code == 403
    assert (await outside.client.get("/healthz")).status_code == 200
    inside = await make_harness(peer=("10.1.2.3", 5000), allowed_networks=["10.0.0.0/8"])
    assert (await inside.post_email(email_body())).status_code == 202


async def test_forwarded_for_is_believed_only_from_the_trusted_hops(make_harness):
    # The proxy (10.0.0.1) appends the client's address; what the client wrote before it is
    # its own claim.
    behind = await make_harness(
        peer=("10.0.0.1", 5000), allowed_networks=["198.51.100.0/24"], trusted_proxy_hops=1
    )
    body = email_body()
    forged = await behind.client.post(
        "/v1/inbound/email", content=body,
        headers={**standard_headers(body), "x-forwarded-for": "198.51.100.7, 203.0.113.9"},
    )  # fmt: skip
    assert forged.status_code == 403, forged.text
    assert "203.0.113.9" in forged.json()["error"]["message"]
    headers = {**standard_headers(body), "x-forwarded-for": "203.0.113.9, 198.51.100.7"}
    believed = await behind.client.post("/v1/inbound/email", content=body, headers=headers)
    assert believed.status_code == 202, believed.text
    # With no trusted hop, the header is ignored altogether: the peer is the client.
    direct = await make_harness(peer=("203.0.113.9", 5000), allowed_networks=["198.51.100.0/24"])
    ignored = await direct.client.post("/v1/inbound/email", content=body, headers=headers)
    assert ignored.status_code == 403


async def test_a_teams_allow_list_guards_its_endpoints_and_emails_routed_to_it(make_harness):
    harness = await make_harness(peer=("203.0.113.9", 5000))
    await harness.teams.change("acme", {"allowed_networks": ["192.0.2.0/24"]})
    body = email_body()
    team_path = await harness.client.post(
        "/v1/teams/acme/inbound/email", content=body, headers=standard_headers(body, ACME_SECRET)
    )
    assert team_path.status_code == 403
    assert team_path.json()["error"]["code"] == "access.network_refused"
    assert "allowed_networks" in team_path.json()["error"]["message"]
    routed = json.dumps({**json.loads(email_body()), "to": ACME_ADDRESS}).encode()
    by_address = await harness.post_email(routed)  # the default path, routed to acme
    assert by_address.status_code == 403
    assert (await harness.post_email(email_body())).status_code == 202  # default: no list
    await harness.teams.change("acme", {"allowed_networks": ["203.0.113.0/24"]})
    allowed = await harness.client.post(
        "/v1/teams/acme/inbound/email", content=body, headers=standard_headers(body, ACME_SECRET)
    )
    assert allowed.status_code == 202, allowed.text
    await harness.teams.change("acme", {"allowed_networks": []})


async def test_every_response_carries_the_security_headers(make_harness):
    harness = await make_harness()
    add_health_routes(harness.app, {})

    async def boom(_):
        raise RuntimeError("a bug")

    harness.app.add_route("/boom", boom)
    accepted = await harness.post_email(email_body())
    refused = await harness.client.post("/v1/inbound/email", content=b"{}")
    unknown = await harness.client.get("/nope")
    health = await harness.client.get("/healthz")
    metrics = await harness.client.get("/metrics")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app, raise_app_exceptions=False),
        base_url="http://ingest.test",
    ) as client:
        crashed = await client.get("/boom")
    assert crashed.status_code == 500 and crashed.json()["error"]["code"] == "internal_error"
    for response in (accepted, refused, unknown, health, metrics, crashed):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", response.url
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
    docs = await harness.client.get("/docs")
    assert "text/html" in docs.headers["content-type"]
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
