"""Every service (and the relay) starts as its own process, connects, and serves health."""

import asyncio

import httpx
import nats
import pytest

from figsync_contracts.steps import STEP_SERVICES, consumer_name

pytestmark = pytest.mark.integration

MODULES = [
    "figsync_ingest.main",
    "figsync_figma.main",
    "figsync_summarizer.main",
    "figsync_notion.main",
    "figsync_notifier.main",
    "figsync_projector.main",
    "figsync_runtime.relay_main",
]


def test_every_service_starts_and_serves_health_readiness_and_metrics(spawn, nats_url):
    processes = [spawn(module) for module in MODULES]
    for process in processes:
        assert httpx.get(f"{process.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 200, process.name
        expected = {"postgres": True, "nats": True, "tasks": True}
        if process.module == "figsync_runtime.relay_main":
            expected["relay"] = True
        assert ready.json()["checks"] == expected
        assert "python_info" in httpx.get(f"{process.url}/metrics").text
    # The durable consumers the services made are the steps figsync_contracts.steps names
    # (what the KEDA triggers and the lag alerts are written from).
    assert asyncio.run(consumer_names(nats_url)) == sorted(map(consumer_name, STEP_SERVICES))
    for process in processes:
        assert process.stop() == 0, f"{process.name} did not stop cleanly:\n{process.logs()}"


async def consumer_names(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        consumers = await nc.jetstream().consumers_info("FIGSYNC")  # the default stream_name
    finally:
        await nc.close()
    return sorted(c.name for c in consumers)


def test_readiness_fails_while_nats_is_down_and_recovers(spawn, nats_server):
    if nats_server is None:
        pytest.skip("needs the embedded NATS server to stop and start it")
    service = spawn("figsync_figma.main")
    nats_server.stop()
    try:
        assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 503
        assert httpx.get(f"{service.url}/healthz").status_code == 200
    finally:
        nats_server.start()
    service.wait_ready(timeout=30)


def test_outside_development_a_service_refuses_to_start_without_a_secret_key(spawn):
    service = spawn("figsync_figma.main", wait_ready=False, FIGSYNC_ENVIRONMENT="production")
    assert service.process.wait(30) != 0
    assert "settings.secret_key_missing" in service.logs()
