"""Projector rebuild throughput: events/s to rebuild every view from N stored events.

    .venv/bin/python bench/projector_bench.py [--events 1000000] [--batch-size 5000]

Uses FIGSYNC_DATABASE_URL's server if set (a scratch database is created and dropped there),
else an embedded Postgres. Events are realistic job histories (email or webhook → thread →
summary → intent → task → confirmation, with failures, retries and deferrals mixed in), spread
over 5 teams and 60 days, written with COPY. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from figsync_contracts import (
    CommentReceived,
    ConfirmationPosted,
    EffectIntended,
    EmailReceived,
    JobDeferred,
    JobFailed,
    JobIgnored,
    JobResumed,
    JobRetryRequested,
    SummaryGenerated,
    TaskCreated,
    ThreadResolved,
)
from figsync_eventstore import PostgresEventStore, create_pool
from figsync_projector.projection import rebuild

TEAMS = ["acme", "globex", "initech", "umbrella", "hooli"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def job_events(rng: random.Random, job: str) -> list[tuple[str, dict]]:
    key, comment = f"F{rng.randrange(10**6):06d}", f"{rng.randrange(10**7)}"
    if rng.random() < 0.5:
        first = (EmailReceived.type, {
            "transport": "json", "message_id": f"<{job}@figma.com>",
            "sender": f"comments-{key}@email.figma.com", "recipients": ["tasks@example.com"],
            "subject": "Anna mentioned you in Landing page", "html": "<p>@Bob please check</p>",
            "text": None, "sent_at": None, "received_at": "2025-01-01T00:00:00+00:00"})  # fmt: skip
    else:
        first = (CommentReceived.type, {
            "origin": "webhook", "file_key": key, "file_name": "Landing page",
            "comment_id": comment, "parent_id": None, "author_handle": "Anna Smith",
            "author_id": "1", "text": "@Bob please check", "mentions": ["Bob"],
            "created_at": None, "webhook_id": "w1"})  # fmt: skip
    events = [first]
    fate = rng.random()
    if fate < 0.05:
        return [*events, (JobIgnored.type, {"reason": "mention_not_tracked", "detail": "",
                                            "duplicate_of": None})]  # fmt: skip
    events.append((ThreadResolved.type, {
        "file_key": key, "file_name": "Landing page", "file_url": f"https://figma.com/file/{key}",
        "comment_id": comment, "root_comment_id": comment, "author": "Anna Smith",
        "text": "@Bob please check", "mentions": ["Bob"],
        "thread": [{"comment_id": comment, "author": "Anna Smith", "text": "@Bob please check",
                    "created_at": None}], "match_score": None}))  # fmt: skip
    if fate < 0.10:
        events += [
            (JobDeferred.type, {"step": "summarizer", "code": "anthropic.overloaded",
                                "until": "2025-01-01T01:00:00+00:00", "attempts": 3}),
            (JobResumed.type, {"step": "summarizer"}),
        ]  # fmt: skip
    events.append((SummaryGenerated.type, {
        "title": "Check the header spacing", "summary": "Bob checks the header.",
        "action_items": ["check spacing"], "priority": "medium", "category": "design",
        "model": "claude-haiku", "prompt_version": "3", "input_tokens": 800,
        "output_tokens": 120, "cost_usd": "0.00125", "source": "ai"}))  # fmt: skip
    events.append((EffectIntended.type, {"step": "notion", "effect": "notion.page", "key": job}))
    if fate < 0.18:
        events.append((JobFailed.type, {"step": "notion", "code": "notion.rate_limited",
                                        "message": "429 after 5 attempts", "attempts": 5,
                                        "retryable": True, "context": {}}))  # fmt: skip
        if fate < 0.14:
            return events
        events.append((JobRetryRequested.type, {"step": "notion", "requested_by": "api"}))
    events.append((TaskCreated.type, {"page_id": job[:12], "url": f"https://notion.so/{job[:12]}",
                                      "data_source_id": None, "reused": False}))  # fmt: skip
    events.append((ConfirmationPosted.type, {"comment_id": "r1", "reused": False}))
    return events


def generate(count: int, seed: int = 1):
    """Yield event rows in global order: jobs interleaved a few at a time, as in production."""
    rng = random.Random(seed)
    position = 0
    active: list[tuple[str, str, list, int]] = []
    clock = START
    step = timedelta(days=60) / count
    while position < count:
        while len(active) < 50:
            job = str(uuid.UUID(int=rng.getrandbits(128)))
            active.append((job, rng.choice(TEAMS), job_events(rng, job), 0))
        index = rng.randrange(len(active))
        job, team, script, version = active[index]
        event_type, data = script[version]
        position += 1
        clock += step
        metadata = {"source": "/bench", "team": team, "correlationid": job, "causationid": None,
                    "traceparent": None, "time": clock.isoformat()}  # fmt: skip
        yield (position, job, version + 1, uuid.UUID(int=rng.getrandbits(128)), event_type, 1,
               json.dumps(data), json.dumps(metadata), clock)  # fmt: skip
        if version + 1 == len(script):
            active.pop(index)
        else:
            active[index] = (job, team, script, version + 1)


async def load(url: str, count: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(url)  # default codecs: jsonb from str, binary COPY
    try:
        rows = generate(count)
        while chunk := [row for _, row in zip(range(100_000), rows, strict=False)]:
            await conn.copy_records_to_table(
                "events", records=chunk,
                columns=["position", "stream_id", "version", "event_id", "type",
                         "schema_version", "data", "metadata", "recorded_at"],
            )  # fmt: skip
        await conn.execute("SELECT setval('events_position_seq', $1)", count)
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()
    return time.perf_counter() - started


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def bench(server_url: str, count: int, batch_size: int) -> None:
    from harness import scratch_database

    async with scratch_database(server_url) as url:
        loaded = await load(url, count)
        pool = await create_pool(url, max_size=4)
        try:
            result = await rebuild(PostgresEventStore(pool), batch_size=batch_size)
            jobs = await pool.fetchval("SELECT count(*) FROM projections.jobs")
        finally:
            await pool.close()
    rate = result.events / result.seconds
    rows = [
        ("events", f"{result.events:,}"),
        ("jobs", f"{jobs:,}"),
        ("batch size", f"{batch_size:,}"),
        ("load (COPY) s", f"{loaded:.1f}"),
        ("rebuild s", f"{result.seconds:.1f}"),
        ("rebuild events/s", f"{rate:,.0f}"),
        ("target events/s", "20,000"),
        ("cores", str(os.cpu_count())),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'projector rebuild'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 12}")
    for key, value in rows:
        print(f"{key.ljust(width)} | {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    from harness import database_server

    with database_server() as url:
        asyncio.run(bench(url, args.events, args.batch_size))


if __name__ == "__main__":
    main()
