"""The production layout — 2 relays, 2 ingests, the projector and 3 replicas of each consumer,
17 processes — finishes a burst against a Postgres with default connection settings
(`max_connections=100`, 3 of them reserved for superusers) as an unprivileged role."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from figsync_eventstore import PostgresEventStore, create_pool, migrate
from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.embedded import EmbeddedPostgres
from figsync_testkit.system import System, lift_sandbox_limits, outcome, post_email, system_env

pytestmark = pytest.mark.e2e

DONE = {"confirmation_posted", "job_failed", "job_ignored"}
LAYOUT = {"relay": 2, "ingest": 2, "projector": 1, "figma": 3, "summarizer": 3, "notion": 3,
          "notifier": 3}  # fmt: skip
MODULES = {"relay": "figsync_runtime.relay_main"}


@pytest.fixture
def default_postgres():
    server = EmbeddedPostgres(settings={"max_connections": "100"})
    server.start()
    yield server
    server.close()


async def test_seventeen_processes_finish_a_burst_on_a_default_postgres(
    default_postgres, spawn, sandbox_api, otlp
):
    admin = await asyncpg.connect(default_postgres.url)
    try:
        assert await admin.fetchval("SHOW max_connections") == "100"
        await admin.execute("CREATE ROLE figsync LOGIN")
        await admin.execute("CREATE DATABASE figsync OWNER figsync")
    finally:
        await admin.close()
    url = f"postgresql://figsync@127.0.0.1:{default_postgres.port}/figsync"
    await migrate(url)

    lift_sandbox_limits(sandbox_api)
    env = {**system_env(sandbox_api, otlp.url), "FIGSYNC_DATABASE_URL": url}
    processes = {}
    for name, count in LAYOUT.items():
        module = MODULES.get(name, f"figsync_{name}.main")
        for replica in range(count):
            processes[f"{name}-{replica}"] = spawn(module, wait_ready=False, **env)
    for process in processes.values():
        await asyncio.to_thread(process.wait_ready, 120)

    pool = await create_pool(url, max_size=3)
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, await pool.fetchval("SELECT count(*) FROM pg_stat_activity "
                                                 "WHERE usename = 'figsync'"))  # fmt: skip
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    try:
        system = System({"ingest": processes["ingest-0"]}, PostgresEventStore(pool), sandbox_api)
        figma = sandbox_api.figma
        comments = [
            figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith burst item {n}") for n in range(30)
        ]
        jobs = [
            await post_email(system, comment_email_message(figma, DEFAULT_FILE_KEY, c.id))
            for c in comments
        ]
        for job in jobs:
            stream = await system.wait_for(job, DONE, timeout=240)
            assert outcome(stream).type.split(".")[1] == "confirmation_posted", outcome(stream).data
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await pool.close()
    assert len(sandbox_api.notion.created_pages(TASKS_DATA_SOURCE_ID)) == len(jobs)
    for name, process in processes.items():
        logs = process.logs()
        assert "TooManyConnections" not in logs and "too many clients" not in logs, name
    print(f"\n17 processes, 30 jobs: at most {most} connections of 97 for the figsync role")
    assert most <= 97
