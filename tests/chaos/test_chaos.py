"""Chaos: N jobs through the whole system while everything around them fails, and nothing is
lost, nothing is done twice, and the views say exactly what the events say.

Injected while the jobs run: 30 % transient failures on every sandbox API (5xx, timeouts,
429 with a short Retry-After), 429 storms, a Retry-After of two hours that parks jobs (it
holds back the whole Figma token, shared by every process; the clock is then moved forward
three hours through the test-only offset file and the budget's row, so they resume; again
while a job that parked on the moved clock waits),
NATS restarted twice, Postgres restarted once, every service and the relay SIGKILLed once.

Found at the end: every job ended ConfirmationPosted, or JobFailed / JobIgnored with its
reason; at most one Notion page per job and one Figma reply per comment; every job event in
the views; the live views equal to a rebuild from scratch. A table of both is printed.

FIGSYNC_CHAOS_JOBS sets N (100 by default; `make chaos` runs 500).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from figsync_contracts import JobDeferred, JobResumed
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository
from figsync_sandbox import DEFAULT_FILE_KEY, TASKS_DATA_SOURCE_ID
from figsync_sandbox.emails import comment_email_message
from figsync_testkit.system import signed

JOBS = int(os.environ.get("FIGSYNC_CHAOS_JOBS", "100"))
# Above the suite's 300 s default: the wait for the last job alone may take JOBS * 2.5 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(max(600, JOBS * 4))]
TERMINAL = {"confirmation_posted", "job_failed", "job_ignored"}
STATE = TERMINAL | {"job_deferred", "job_resumed", "job_retry_requested", "confirmation_skipped"}
PARK_SECONDS = 7200
CLOCK_JUMP_SECONDS = 3 * 3600


def short(event_type: str) -> str:
    return event_type.split(".")[1]


@dataclass
class Ledger:
    """What was done to the system, and when (seconds since the start)."""

    started: float = field(default_factory=time.monotonic)
    actions: list[tuple[float, str]] = field(default_factory=list)
    submit_retries: int = 0

    def note(self, what: str) -> None:
        self.actions.append((time.monotonic() - self.started, what))
        print(f"[chaos {time.monotonic() - self.started:6.1f}s] {what}", flush=True)


async def retrying(work: Callable[[], Awaitable[Any]], what: str, timeout: float = 120) -> Any:
    """`work()` again until it succeeds: our own reads must ride out Postgres restarts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await work()
        except Exception as error:  # connection refused / reset while a server restarts
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: still failing after {timeout}s: {error!r}"
                ) from error
            await asyncio.sleep(0.5)


async def submit(system, message, ledger: Ledger) -> str:
    """Deliver one email as a mail provider would: retry until the ingest answers 2xx."""
    body = message.as_bytes()
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            try:
                response = await http.post(
                    f"{system.ingest}/v1/inbound/email/mime",
                    content=body,
                    headers={"content-type": "message/rfc822", **signed(body)},
                )
                if response.status_code in (200, 202):
                    return response.json()["job_id"]
                assert response.status_code >= 500 or response.status_code == 429, response.text
            except httpx.HTTPError:
                pass
            ledger.submit_retries += 1
            assert time.monotonic() < deadline, "the ingest did not accept an email in 180 s"
            await asyncio.sleep(0.5)


def inject_transient_faults(sandbox, seed: int) -> None:
    """30 % of every API's requests fail transiently: 20 % 5xx, 5 % a hang then 504, 5 % 429
    with a short Retry-After."""
    for server in (sandbox.figma, sandbox.notion, sandbox.anthropic):
        server.faults.set_seed(seed)
        server.faults.inject("*", status=503, rate=0.10)
        server.faults.inject("*", status=500, rate=0.1111)  # 10 % of what is left...
        server.faults.inject("*", timeout=True, hang_seconds=2, rate=0.0625)
        server.faults.inject("*", status=429, retry_after=1, rate=0.0667)


async def kill_and_restart(name: str, process, ledger: Ledger) -> None:
    ledger.note(f"SIGKILL {name}")
    await asyncio.to_thread(process.kill)
    await asyncio.to_thread(process.start, False)
    await asyncio.to_thread(process.wait_ready, 120)


async def restart_server(server, name: str, ledger: Ledger, down: float = 2.0) -> None:
    ledger.note(f"restart {name} (down {down:.0f}s)")
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(down)
    await asyncio.to_thread(server.start)


async def job_states(store, jobs: list[str]) -> dict[str, list]:
    async def read() -> dict[str, list]:
        out = {}
        for job in jobs:
            out[job] = await store.read_stream(job)
        return out

    return await retrying(read, "reading the jobs")


def outcome(stream: list) -> str:
    states = [short(e.type) for e in stream if short(e.type) in STATE]
    return states[-1] if states else "in_progress"


async def test_chaos_loses_nothing_and_does_nothing_twice(
    system, nats_server, postgres_server, tmp_path, capsys
):
    sandbox = system.sandbox
    store = system.store
    ledger = Ledger()
    clock_file = tmp_path / "clock-offset"
    clock_file.write_text("0")

    # Every process again, with the chaos settings: the shared clock offset file, a quick
    # resumer, room for retries under 30 % failures, short backoff.
    chaos_env = {
        "FIGSYNC_TESTKIT_CLOCK_OFFSET_FILE": str(clock_file),
        "FIGSYNC_RESUMER_INTERVAL_SECONDS": "1",
        "FIGSYNC_MAX_DELIVERIES": "12",
        "FIGSYNC_RETRY_MAX_DELAY_SECONDS": "3",
        "FIGSYNC_ACK_WAIT_SECONDS": "10",
        "FIGSYNC_LOG_LEVEL": "WARNING",
        # Reconcile would rightly make a task of the sandbox's seeded mention (older than its
        # grace), a page this run's ledger cannot place; it has its own end-to-end tests.
        "FIGSYNC_RECONCILE_INTERVAL_SECONDS": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    # The thread lifecycle's reactions (up to three more Figma calls per job, on the same
    # budget) have their own kill-and-redeliver tests; here they would only slow the run.
    teams = TeamRepository(store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("default", {"reactions_enabled": False}, changed_by="chaos test")
    for process in system.processes.values():
        process.kill()
        process.env.update(chaos_env)
        process.start(wait_ready=False)
    for process in system.processes.values():
        await asyncio.to_thread(process.wait_ready, 120)
    inject_transient_faults(sandbox, seed=20260105)
    ledger.note(f"30 % transient faults on figma, notion, anthropic; {JOBS} jobs")

    comments = [
        sandbox.figma.add_comment(DEFAULT_FILE_KEY, f"@Anna Smith chaos item {n}: check spacing")
        for n in range(JOBS)
    ]
    jobs: list[str] = []
    parked = max(3, JOBS // 20)
    accepted = 0

    async def deliver() -> None:
        gate = asyncio.Semaphore(4)

        async def one(comment) -> str:
            async with gate:
                nonlocal accepted
                message = comment_email_message(sandbox.figma, DEFAULT_FILE_KEY, comment.id)
                job = await submit(system, message, ledger)
                accepted += 1
                await asyncio.sleep(0.05)  # a steady stream rather than one burst
                return job

        jobs.extend(await asyncio.gather(*(one(c) for c in comments)))

    delivering = asyncio.create_task(deliver())
    p = system.processes

    async def deferred_count() -> int:
        return await retrying(
            lambda: store.pool.fetchval(
                "SELECT count(DISTINCT stream_id) FROM events WHERE type = $1", JobDeferred.type
            ),
            "counting deferred jobs",
        )

    async def at(fraction: float) -> None:
        """Wait until this share of the emails was accepted (the schedule follows the run)."""
        while accepted < JOBS * fraction and not delivering.done():
            await asyncio.sleep(0.2)

    # The chaos schedule, spread over the deliveries.
    await at(0.05)
    for route in ("POST /v1/pages", "POST /v1/files/*/comments", "POST /v1/messages"):
        for server in (sandbox.notion, sandbox.figma, sandbox.anthropic):
            server.faults.inject(route, status=429, retry_after=2, times=15)
    ledger.note("429 storm: 15 x 429 Retry-After 2 s on pages, replies and messages")
    long_rule = sandbox.figma.faults.inject(
        "/v1/files/*/comments", status=429, retry_after=PARK_SECONDS, times=parked
    )  # reads and replies alike: jobs on one file share their reads, every job replies
    ledger.note(f"Retry-After {PARK_SECONDS} s on the next {parked} comment calls (parks jobs)")
    await at(0.1)
    await kill_and_restart("figma", p["figma"], ledger)
    await at(0.2)
    if nats_server is not None:
        await restart_server(nats_server, "NATS #1", ledger)
    await at(0.3)
    await kill_and_restart("ingest", p["ingest"], ledger)
    await at(0.4)
    await kill_and_restart("summarizer", p["summarizer"], ledger)
    await at(0.5)
    if postgres_server is not None:
        await restart_server(postgres_server, "Postgres", ledger, down=3)
    await at(0.6)
    await kill_and_restart("relay", p["relay"], ledger)
    await at(0.65)
    await kill_and_restart("notion", p["notion"], ledger)
    await at(0.75)
    if nats_server is not None:
        await restart_server(nats_server, "NATS #2", ledger)
    await at(0.85)
    await kill_and_restart("notifier", p["notifier"], ledger)
    await at(0.9)
    await kill_and_restart("projector", p["projector"], ledger)
    await delivering
    ledger.note(f"all {len(jobs)} emails accepted ({ledger.submit_retries} delivery retries)")

    # Parked jobs wait for their time; move every process's clock past it.
    async with asyncio.timeout(240):
        while long_rule.hits < 1 or await deferred_count() < 1:
            await asyncio.sleep(1)
    parked_jobs = await deferred_count()
    # Two hours later Figma has no such answer left: the rule's unused hits (the shared budget
    # kept every other replica from even asking) expire with the time.
    long_rule.times = long_rule.hits
    jumps = 0

    async def move_clock() -> None:
        """Let three more hours pass for every process and for the shared budgets."""
        nonlocal jumps
        jumps += 1
        clock_file.write_text(str(CLOCK_JUMP_SECONDS * jumps))
        # The shared Figma budget keeps the two-hour Retry-After on the database's clock, which
        # the offset file does not move: let the same hours pass there.
        await retrying(
            lambda: store.pool.execute(
                "UPDATE rate_budgets SET tat = least(tat, clock_timestamp()), limited_at = NULL"
            ),
            "moving the shared budgets' clock",
        )

    await move_clock()
    ledger.note(f"{parked_jobs} jobs parked; clock moved forward {CLOCK_JUMP_SECONDS // 3600} h")

    # Wait until every job has ended.
    deadline = time.monotonic() + max(300, JOBS * 2.5)
    moved = time.monotonic()
    while True:
        streams = await job_states(store, jobs)
        open_jobs = [j for j, s in streams.items() if outcome(s) not in TERMINAL]
        if not open_jobs:
            break
        if time.monotonic() > deadline:
            stuck = {j: [short(e.type) for e in streams[j]][-6:] for j in open_jobs[:10]}
            pytest.fail(f"{len(open_jobs)} jobs never ended, e.g. {json.dumps(stuck, indent=1)}")
        # A job whose long 429 was answered just before the clock moved parked itself on the
        # moved clock (the answer was still in flight): time passes for it too.
        if time.monotonic() - moved > 10 and any(
            outcome(streams[j]) == "job_deferred" for j in open_jobs
        ):
            await move_clock()
            moved = time.monotonic()
            ledger.note(f"clock moved forward again ({jumps * CLOCK_JUMP_SECONDS // 3600} h)")
        await asyncio.sleep(2)
    ledger.note("every job ended")
    for server in (sandbox.figma, sandbox.notion, sandbox.anthropic):
        server.faults.clear()

    # -- what was found ---------------------------------------------------------------------
    outcomes = Counter(outcome(s) for s in streams.values())
    reasons = Counter()
    problems: list[str] = []
    for job, stream in streams.items():
        last = next(e for e in reversed(stream) if short(e.type) in TERMINAL)
        if short(last.type) == "job_failed":
            reasons[f"failed {last.data['step']}: {last.data['code']}"] += 1
            if not (last.data.get("code") and last.data.get("step")):
                problems.append(f"{job}: JobFailed without a code and step")
        elif short(last.type) == "job_ignored":
            reasons[f"ignored: {last.data['reason']}"] += 1
            if not last.data.get("reason"):
                problems.append(f"{job}: JobIgnored without a reason")
    resumed = sum(any(e.type == JobResumed.type for e in s) for s in streams.values())

    pages = sandbox.notion.created_pages(TASKS_DATA_SOURCE_ID)
    pages_per_job = Counter()
    for page in pages:
        text = json.dumps(page.properties)
        for job in jobs:
            if job in text:
                pages_per_job[job] += 1
    duplicate_pages = {j: n for j, n in pages_per_job.items() if n > 1}
    orphan_pages = len(pages) - sum(pages_per_job.values())
    replies = Counter(c.parent_id for c in sandbox.figma.posted_comments() if c.parent_id)
    duplicate_replies = {c: n for c, n in replies.items() if n > 1}
    confirmed = [j for j, s in streams.items() if outcome(s) == "confirmation_posted"]
    confirmed_without_page = [j for j in confirmed if pages_per_job[j] != 1]

    missing_in_views, differences = await retrying(
        lambda: compare_views(store), "comparing the views", timeout=180
    )

    injected = [
        (server, status, n)
        for server, state in (
            ("figma", sandbox.figma),
            ("notion", sandbox.notion),
            ("anthropic", sandbox.anthropic),
        )  # fmt: skip
        for status, n in sorted(
            Counter(r.status for r in state.requests() if r.status and r.status >= 400).items()
        )  # fmt: skip
    ]
    calls = {
        name: len(state.requests())
        for name, state in (
            ("figma", sandbox.figma),
            ("notion", sandbox.notion),
            ("anthropic", sandbox.anthropic),
        )  # fmt: skip
    }
    with capsys.disabled():
        print_table(ledger, injected, calls, parked_jobs, {
            "jobs": len(jobs),
            **{f"outcome {k}": v for k, v in sorted(outcomes.items())},
            **{k: v for k, v in sorted(reasons.items())},
            "jobs deferred, then resumed": resumed,
            "Notion pages": len(pages),
            "duplicate Notion pages (jobs with > 1)": len(duplicate_pages),
            "Notion pages of no job": orphan_pages,
            "Figma replies": sum(replies.values()),
            "duplicate Figma replies (comments with > 1)": len(duplicate_replies),
            "confirmed jobs without exactly one page": len(confirmed_without_page),
            "job events missing from the views": len(missing_in_views),
            "view rows differing from a rebuild": len(differences),
        })  # fmt: skip
        if duplicate_pages:
            print(explain(duplicate_pages, streams, sandbox) + "\n")

    assert set(outcomes) <= TERMINAL, outcomes
    assert not problems, problems
    assert not duplicate_pages, explain(duplicate_pages, streams, sandbox)
    assert orphan_pages == 0
    assert not duplicate_replies, duplicate_replies
    assert not confirmed_without_page, confirmed_without_page[:5]
    assert len(set(jobs)) == JOBS
    assert not missing_in_views, missing_in_views[:10]
    assert not differences, differences[:10]
    assert outcomes["confirmation_posted"] >= JOBS * 0.9, outcomes
    assert resumed >= 1 and parked_jobs >= 1, (resumed, parked_jobs)


def explain(duplicates: dict[str, int], streams: dict[str, list], sandbox) -> str:
    """For each job with more than one page: its events and the Notion requests naming it."""
    lines = []
    for job in list(duplicates)[:3]:
        lines.append(f"job {job}:")
        for e in streams[job]:
            detail = {k: v for k, v in e.data.items() if k in ("effect", "key", "step", "code",
                      "page_id", "reused", "attempts", "until", "message")}  # fmt: skip
            lines.append(f"  {e.version} {short(e.type)} {detail} {e.recorded_at:%H:%M:%S.%f}")
        for r in sandbox.notion.requests():
            if job in json.dumps(r.body, default=str) or job in json.dumps(r.query):
                lines.append(f"  notion {r.method} {r.path} -> {r.status} at {r.time:.3f}")
    return "\n".join(lines)


def print_table(ledger, injected, calls, parked, found) -> None:
    print("\n\nchaos run: what was injected")
    print(f"  {'t (s)':>7}  action")
    for at, what in ledger.actions:
        print(f"  {at:7.1f}  {what}")
    print(f"  {'':>7}  delivery retries by the mail sender: {ledger.submit_retries}")
    print(f"  {'':>7}  jobs parked by the long Retry-After: {parked}")
    print("\n  API        answer  count")
    for server, status, n in injected:
        print(f"  {server:<10} {status:>6}  {n:>5}  (of {calls[server]} requests)")
    print("\nchaos run: what was found")
    width = max(len(k) for k in found)
    for key, value in found.items():
        print(f"  {key:<{width}}  {value}")
    print()


# -- views -------------------------------------------------------------------------------


async def compare_views(store) -> tuple[list[str], list[str]]:
    """(job events missing from the live views, rows where the live views differ from a
    rebuild from scratch), once the live projector has caught up with the store."""
    from figsync_projector.projection import Projection

    async with asyncio.timeout(150):
        while True:
            last = await store.last_position()
            applied = await store.pool.fetchval("SELECT position FROM projections.checkpoint")
            if applied >= last:
                break
            await asyncio.sleep(0.5)
    pool = store.pool
    missing = await pool.fetch(
        """SELECT e.position, e.stream_id, e.type FROM events e
           WHERE position(':' in e.stream_id) = 0
             AND NOT EXISTS (SELECT 1 FROM projections.job_events v WHERE v.position = e.position)
           ORDER BY e.position"""
    )
    wrong_counts = await pool.fetch(
        """SELECT e.stream_id, count(*) AS n, max(e.position) AS last, j.event_count,
                  j.last_position
           FROM events e LEFT JOIN projections.jobs j ON j.job_id = e.stream_id
           WHERE position(':' in e.stream_id) = 0
           GROUP BY e.stream_id, j.event_count, j.last_position
           HAVING j.event_count IS DISTINCT FROM count(*)
               OR j.last_position IS DISTINCT FROM max(e.position)"""
    )
    missing_list = [f"event {r['position']} {r['type']} of {r['stream_id']}" for r in missing]
    missing_list += [f"job {r['stream_id']}: view {dict(r)}" for r in wrong_counts]

    schema = "chaos_rebuild"
    tables = [r[0] for r in await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'projections' ORDER BY 1"
    )]  # fmt: skip
    await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await pool.execute(f"CREATE SCHEMA {schema}")
    try:
        for table in tables:
            await pool.execute(
                f"CREATE TABLE {schema}.{table} (LIKE projections.{table} INCLUDING ALL)"
            )
        await pool.execute(f"INSERT INTO {schema}.checkpoint DEFAULT VALUES")
        rebuilt = Projection(store, schema, notify=False)
        while await rebuilt.apply_batch(2000, lock=False):
            pass
        differences: list[str] = []
        for table in tables:
            if table == "checkpoint":
                live = await pool.fetchval("SELECT position FROM projections.checkpoint")
                fresh = await pool.fetchval(f"SELECT position FROM {schema}.checkpoint")
                if live != fresh:
                    differences.append(f"checkpoint: live {live}, rebuilt {fresh}")
                continue
            rows = {}
            for s in ("projections", schema):
                rows[s] = Counter(
                    r[0] for r in await pool.fetch(f"SELECT t::text FROM {s}.{table} t")
                )
            only_live = rows["projections"] - rows[schema]
            only_rebuilt = rows[schema] - rows["projections"]
            differences += [f"{table} live only: {row}" for row in only_live]
            differences += [f"{table} rebuilt only: {row}" for row in only_rebuilt]
        return missing_list, differences
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
