"""Under FIGSYNC_LOG_FORMAT=json every line a service process prints is one JSON log record:
figsync's own lines, FastStream's, uvicorn's and nats-py's, while the services work, fail
steps, lose NATS and stop on SIGTERM, and the traceback of a process that dies at start."""

import asyncio
import json
import time
import uuid

import httpx
import nats
import pytest

from figsync_contracts import TaskCreated, ThreadResolved, new_envelope
from figsync_testkit.embedded import EmbeddedNats, free_port
from figsync_testkit.processes import ServiceProcess
from figsync_testkit.system import EMAIL_SECRET, signed

pytestmark = pytest.mark.integration

JSON_LOGS = {"FIGSYNC_LOG_FORMAT": "json", "FIGSYNC_LOG_LEVEL": "INFO"}


def records(process: ServiceProcess, service: str) -> list[dict]:
    """The process's output, each non-empty line parsed; fails on any line that is not a JSON
    object with this service and a level."""
    parsed, bad = [], []
    for line in process.logs().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(record, dict) or record.get("service") != service:
            bad.append(line)
        elif "level" not in record or "event" not in record:
            bad.append(line)
        else:
            parsed.append(record)
    assert not bad, f"{service} printed lines that are not JSON log records:\n" + "\n".join(
        bad[:30]
    )
    assert parsed, f"{service} printed nothing"
    return parsed


async def seed(store, job_id: str, *, with_thread: bool) -> None:
    """A job at TaskCreated (the notifier's input); without its ThreadResolved the notifier's
    step fails permanently, with it the step fails on the unreachable Figma API and retries."""
    events = []
    if with_thread:
        events.append(ThreadResolved(
            file_key="FILEKEY123", file_name="Onboarding", comment_id="101",
            root_comment_id="101", author="Maarten", text="@Anna Smith review this",
            mentions=["Anna Smith"], thread=[],
            file_url="https://www.figma.com/design/FILEKEY123/Onboarding",
        ))  # fmt: skip
    events.append(TaskCreated(page_id="0f3c2b1a", url="https://www.notion.so/Task-0f3c2b1a"))
    causation = None
    for event in events:
        envelope = new_envelope(event, stream_id=job_id, team="default", source="/tests",
                                causation=causation)  # fmt: skip
        await store.append(job_id, [envelope], expected_version=None)
        causation = envelope


async def job_failed(store, job_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.type == "figsync.job_failed.v1" for e in await store.read_stream(job_id)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not fail within {timeout}s")


async def test_every_line_services_print_is_json(spawn, event_store, tmp_path):
    (tmp_path / "nats").mkdir()
    own_nats = EmbeddedNats(base_dir=tmp_path / "nats").start()  # to restart it mid-test
    try:
        env = {**JSON_LOGS, "FIGSYNC_NATS_URL": own_nats.url,
               "FIGSYNC_RELAY_POLL_INTERVAL_SECONDS": "0.2"}  # fmt: skip
        services = {
            "relay": spawn("figsync_runtime.relay_main", wait_ready=False, **env),
            "notifier": spawn(
                "figsync_notifier.main",
                wait_ready=False,
                **env,
                FIGSYNC_FIGMA_API_URL=f"http://127.0.0.1:{free_port()}",  # nobody listens
                FIGMA_API_TOKEN="figd_not-a-real-token-0000",
                FIGSYNC_MAX_DELIVERIES="2",
                FIGSYNC_RETRY_BASE_DELAY_SECONDS="0.2",
                FIGSYNC_FIGMA_REQUESTS_PER_MINUTE="6000",
            ),
            "ingest": spawn(
                "figsync_ingest.main",
                wait_ready=False,
                **env,
                FIGSYNC_EMAIL_WEBHOOK_SECRET=EMAIL_SECRET,
            ),
            "projector": spawn("figsync_projector.main", wait_ready=False, **env),
        }
        # Dies at start (production without a secret key): its traceback must be a record.
        crashed = spawn("figsync_notifier.main", wait_ready=False, **env,
                        FIGSYNC_ENVIRONMENT="production")  # fmt: skip
        for process in services.values():
            process.wait_ready()

        # Work and its error paths: a permanent and a retried step failure, each ending the
        # job (JobFailed, which the notifier's alert step handles too), a message that is not
        # an event, rejected and accepted webhooks.
        permanent, retried = f"job-{uuid.uuid4()}", f"job-{uuid.uuid4()}"
        await seed(event_store, permanent, with_thread=False)
        await seed(event_store, retried, with_thread=True)
        await job_failed(event_store, permanent)
        await job_failed(event_store, retried)
        connection = await nats.connect(own_nats.url)
        try:
            await connection.jetstream().publish("figsync.events.task_created.v1", b"{not json")
        finally:
            await connection.close()
        async with httpx.AsyncClient() as http:
            ingest = services["ingest"].url
            body = b"From: a@example.com\r\nSubject: hi\r\n\r\nno figma here\r\n"
            for headers in ({}, signed(body)):
                await http.post(f"{ingest}/v1/inbound/email/mime", content=body,
                                headers={"content-type": "message/rfc822", **headers})  # fmt: skip

        # NATS goes away and comes back: the clients' reconnect errors and warnings.
        await asyncio.sleep(0.5)
        own_nats.stop()
        await asyncio.sleep(1.5)
        own_nats.start()
        for process in services.values():
            process.wait_ready()
        for process in services.values():
            process.stop()
        assert crashed.process.wait(30) != 0
    finally:
        own_nats.close()

    lines = {name: records(process, name) for name, process in services.items()}
    for name, found in lines.items():
        assert any(r["event"] == "service stopping" for r in found), name

    notifier = lines["notifier"]
    step_lines = [r for r in notifier if r.get("logger") == "figsync.steps"]
    assert {r.get("job_id") for r in step_lines} >= {permanent, retried}
    assert all(r.get("job_id") and r.get("step") for r in step_lines), step_lines
    faststream = [r for r in notifier if r["logger"].startswith("faststream")]
    assert any(r["event"] == "Received" and r.get("message_id") for r in faststream)
    assert any(r["event"] == "message is not an event envelope; terminated" for r in notifier)
    # The lost connection with its exception in a field (FastStream printed it raw).
    assert any(
        r["logger"].startswith(("faststream", "nats")) and "UnexpectedEOF" in r.get("exception", "")
        for r in notifier
    ), [r for r in notifier if r["level"] != "info"]

    [died] = [r for r in records(crashed, "notifier") if r["level"] == "critical"]
    assert died["event"] == "uncaught exception"
    assert "SettingsError: settings.secret_key_missing" in died["exception"]
