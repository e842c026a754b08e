"""The whole figsync system for benchmarks: embedded Postgres and NATS, the sandbox APIs, an
OTLP receiver and every process, driven from a plain script (the e2e fixtures' helpers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import nats

from figsync_eventstore import PostgresEventStore, create_pool, migrate
from figsync_sandbox.servers import Sandbox, SandboxConfig
from figsync_testkit.embedded import EmbeddedNats, EmbeddedPostgres
from figsync_testkit.processes import ServiceProcess
from figsync_testkit.system import (
    Collector,
    System,
    lift_sandbox_limits,
    otlp_receiver,
    signed,
    start_system,
    system_env,
)

DONE = {"confirmation_posted", "job_failed", "job_ignored"}


@dataclass
class Servers:
    """The long-lived pieces shared by every figure of one run."""

    postgres_url: str
    nats_url: str
    sandbox: Sandbox
    collector: Collector
    log_dir: Path
    postgres_pid: int
    nats_pid: int


@dataclass
class Run:
    """One figure's system: its processes, the event store's pool, and `spawn` for more."""

    system: System
    pool: asyncpg.Pool
    spawn: Callable[..., ServiceProcess]


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """Embedded Postgres and NATS, the sandbox and the OTLP receiver, for one bench run."""
    with contextlib.ExitStack() as stack:
        postgres = EmbeddedPostgres().start()
        stack.callback(postgres.close)
        server = EmbeddedNats().start()
        stack.callback(server.close)
        sandbox = Sandbox(SandboxConfig()).start()
        stack.callback(sandbox.stop)
        collector = stack.enter_context(otlp_receiver())
        log_dir = Path(tempfile.mkdtemp(prefix="figsync-bench-logs-"))
        yield Servers(
            postgres.url, server.url, sandbox, collector, log_dir,
            postgres.process.pid, server.process.pid,
        )  # fmt: skip


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def running_system(
    servers: Servers, services: list[str] | None = None, sandbox: Any = None, **env: str
) -> AsyncIterator[Run]:
    """A fresh database and JetStream, the sandbox reset with limits lifted, the relay and
    `services` as processes. `sandbox`: another sandbox to use (URLs and credentials)."""
    name = f"figsync_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(servers.postgres_url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    database_url = _with_database(servers.postgres_url, name)
    await migrate(database_url)
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    for info in await js.streams_info():
        await js.delete_stream(info.config.name)
    await nc.close()
    servers.sandbox.reset()
    lift_sandbox_limits(servers.sandbox)
    sandbox = sandbox or servers.sandbox
    servers.collector.spans.clear()
    started: list[ServiceProcess] = []

    def spawn(module: str, wait_ready: bool = True, **extra: str) -> ServiceProcess:
        process = ServiceProcess(
            module,
            {"FIGSYNC_DATABASE_URL": database_url, "FIGSYNC_NATS_URL": servers.nats_url,
             "FIGSYNC_LOG_LEVEL": "WARNING", **extra},
            servers.log_dir,
        )  # fmt: skip
        started.append(process.start(wait_ready=wait_ready))
        return process

    pool = await create_pool(database_url, max_size=4)
    try:
        # The e2e environment redelivers after 5 s and retries after 0.2 s (fast crash
        # tests); the benchmarks run with the production defaults.
        production = {"FIGSYNC_ACK_WAIT_SECONDS": "60", "FIGSYNC_RETRY_BASE_DELAY_SECONDS": "1"}
        merged = {**system_env(sandbox, servers.collector.url), **production, **env}
        system = await asyncio.to_thread(
            start_system, spawn, sandbox, PostgresEventStore(pool), merged, services
        )
        yield Run(system, pool, lambda module, **extra: spawn(module, **{**merged, **extra}))
    finally:
        for process in started:
            process.stop(timeout=10)
        await pool.close()
        admin = await asyncpg.connect(servers.postgres_url)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def post(http: httpx.AsyncClient, system: System, body: bytes) -> tuple[str, float]:
    """Send one signed MIME email to the ingest; return the job id and the wall time sent."""
    sent = time.time()
    headers = {"content-type": "message/rfc822", **signed(body)}
    response = await http.post(f"{system.ingest}/v1/inbound/email/mime", content=body,
                               headers=headers)  # fmt: skip
    if response.status_code != 202:
        raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
    return response.json()["job_id"], sent


@contextlib.contextmanager
def sandbox_processes(emails: int, tag: str) -> Iterator[tuple[Any, list[bytes]]]:
    """Figma in one process (seeded with `emails` files, comments and their emails), Notion
    and Anthropic in another: the sandbox URLs and credentials, and the emails."""
    import json
    import subprocess
    import sys
    from types import SimpleNamespace

    script = Path(__file__).resolve().parent / "sandbox_proc.py"
    folder = Path(tempfile.mkdtemp(prefix="figsync-bench-emails-"))
    started = []
    try:
        infos = []
        for count in (emails, 0):
            child = subprocess.Popen(
                [sys.executable, str(script), "--emails", str(folder), "--count", str(count),
                 "--tag", tag], stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            started.append(child)
            line = child.stdout.readline() if child.stdout else ""
            if not line:
                raise RuntimeError("the sandbox process exited before listening")
            infos.append(json.loads(line))
        figma, rest = infos
        sandbox = SimpleNamespace(**{**rest, "figma_url": figma["figma_url"],
                                     "figma_token": figma["figma_token"]})  # fmt: skip
        bodies = [path.read_bytes() for path in sorted(folder.glob("*.eml"))]
        yield sandbox, bodies
    finally:
        for child in started:
            child.terminate()
            child.wait(10)


@contextlib.contextmanager
def database_server() -> Iterator[str]:
    """FIGSYNC_DATABASE_URL's server, or an embedded Postgres for this run."""
    url = os.environ.get("FIGSYNC_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres().start()
    try:
        yield server.url
    finally:
        server.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A new, migrated database on the server for one benchmark, dropped afterwards."""
    name = f"figsync_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        url = _with_database(server_url, name)
        await migrate(url)
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
