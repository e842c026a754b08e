"""Ingest throughput: signed JSON emails accepted per second, and latency percentiles.

    .venv/bin/python bench/ingest_bench.py [--requests 5000] [--concurrency 16,64]

The ingest app (built by its own bootstrap, limits off) runs under uvicorn in a child
process against an embedded Postgres (or FIGSYNC_DATABASE_URL's server: a scratch database
is created and dropped there). This process is the load: keep-alive HTTP/1.1 connections
on a bare asyncio client, each request a new email signed per Standard Webhooks, measured
from the first byte sent to the last byte of the answer. Each round also sends every email
of a previous round again (duplicates: 200, nothing appended). Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from statistics import quantiles
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from figsync_eventstore import migrate
from figsync_ingest.signatures import sign_standard
from figsync_testkit.embedded import EmbeddedPostgres, free_port

SECRET = "whsec_" + "YmVuY2htYXJrLXNlY3JldC1mb3ItZmlnc3luYy1pbmdlc3Q="
HTML = "<p><span style='color: #007be5'>@Anna Smith</span> can you check the spacing?</p>" * 20


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def serve(database_url: str, port: int) -> None:
    """Child process: the ingest app on uvicorn, as `figsync_ingest.main` builds it, minus NATS."""
    import uvicorn

    from figsync_eventstore import PostgresEventStore, create_pool
    from figsync_ingest.bootstrap import build
    from figsync_ingest.settings import IngestSettings
    from figsync_runtime import Resources
    from figsync_runtime.logs import configure_logging
    from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
    from figsync_runtime.teams import TeamRepository

    async def main() -> None:
        configure_logging("ingest", "WARNING", "json")
        settings = IngestSettings(
            database_url=database_url, rate_per_source=0, rate_per_team=0, http_port=port
        )
        pool = await create_pool(database_url, max_size=20)
        store = PostgresEventStore(pool)
        teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
        os.environ["FIGSYNC_EMAIL_WEBHOOK_SECRET"] = SECRET
        resources = Resources("ingest", settings, pool, store, None, asyncio.Event(), teams)  # type: ignore[arg-type]
        wiring = await build(resources)
        config = uvicorn.Config(
            wiring.app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        await uvicorn.Server(config).serve()

    asyncio.run(main())


def signed_request(port: int, body: bytes) -> bytes:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    head = (
        f"POST /v1/inbound/email HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"webhook-id: {webhook_id}\r\nwebhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: {sign_standard(SECRET, webhook_id, timestamp, body)}\r\n\r\n"
    )
    return head.encode() + body


def email_body(message_id: str) -> bytes:
    return json.dumps(
        {"from": "Maarten (via Figma) <comments-Xk3pQ9dLm2RtV8bNc4HsZa@email.figma.com>",
         "to": "you@example.com", "subject": "Maarten mentioned you in Onboarding",
         "html": HTML, "text": "@Anna Smith can you check the spacing?",
         "timestamp": "2026-01-05T09:31:00Z", "messageId": message_id}
    ).encode()  # fmt: skip


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list, dict]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                request = queue.pop()
                started = time.perf_counter()
                status = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


def percentile_ms(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def wait_listening(port: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError("the ingest server exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError("the ingest server did not listen")


async def run(base_url: str, requests: int, levels: list[int]) -> None:
    name = f"figsync_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    database_url = _with_database(base_url, name)
    await migrate(database_url)
    port = free_port()
    child = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, __file__, "--serve", database_url, "--port", str(port)]
    )
    try:
        await wait_listening(port, child)
        # Warm-up: connections, the team cache, Postgres' plans.
        await load(port, [signed_request(port, email_body(f"<w{i}@x>")) for i in range(200)], 8)
        rows = []
        previous: list[bytes] = []
        for concurrency in levels:
            bodies = [email_body(f"<{uuid.uuid4().hex}@email.figma.com>") for _ in range(requests)]
            batch = [signed_request(port, b) for b in bodies]
            elapsed, latencies, statuses = await load(port, batch, concurrency)
            rows.append(("new emails", concurrency, requests, elapsed, latencies, statuses))
            if previous:
                again = [signed_request(port, b) for b in previous]
                elapsed, latencies, statuses = await load(port, again, concurrency)
                rows.append(("duplicates", concurrency, len(again), elapsed, latencies, statuses))
            previous = bodies[: requests // 2]
        print(
            f"\ningest bench: {os.cpu_count()} cores, JSON email ≈{len(bodies[0])} B, limits off\n"
        )
        print(f"{'load':<11} {'conc':>4} {'requests':>8} {'answered/s':>10} {'accepted/s':>10} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  statuses")  # fmt: skip
        for label, conc, count, elapsed, latencies, statuses in rows:
            accepted = statuses.get(202, 0) / elapsed
            print(
                f"{label:<11} {conc:>4} {count:>8} {count / elapsed:>10.0f} {accepted:>10.0f} "
                f"{percentile_ms(latencies, 50):>7.1f} {percentile_ms(latencies, 95):>7.1f} "
                f"{percentile_ms(latencies, 99):>7.1f}  {dict(sorted(statuses.items()))}"
            )
    finally:
        child.terminate()
        child.wait(10)
        admin = await asyncpg.connect(base_url)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", default="16,64")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    external = os.environ.get("FIGSYNC_DATABASE_URL")
    postgres = None if external else EmbeddedPostgres().start()
    try:
        asyncio.run(run(external or postgres.url, args.requests, levels))  # type: ignore[union-attr]
    finally:
        if postgres:
            postgres.close()


if __name__ == "__main__":
    main()
