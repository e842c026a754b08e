"""Figures of the whole loop (every service as a process, the sandbox APIs, traces over OTLP):
own overhead and end-to-end latency with realistic API latencies, maximum sustained jobs/s
with zero-latency APIs, and Notion pacing of a backlog. Each returns rows for bench/run.py."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from statistics import quantiles

import httpx
from harness import Servers, post, running_system, sandbox_processes

from figsync_sandbox.emails import comment_email_message

# The realistic latencies of issue 14, per external call (ms).
REALISTIC = {
    ("figma", "GET /ls/click"): 150,
    ("figma", "GET /uni/ls/click"): 150,
    ("figma", "GET /v1/files/*/comments"): 300,
    ("anthropic", "POST /v1/messages"): 1500,
    ("notion", "POST /v1/pages"): 400,
    ("figma", "POST /v1/files/*/comments"): 300,
}
REALISTIC_SUM_MS = 150 + 300 + 1500 + 400 + 300
SPAN_SERVER, SPAN_CLIENT = 2, 3


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    ok: bool | None
    notes: list[str] = field(default_factory=list)


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[q - 1]


# -- jobs ------------------------------------------------------------------------------------


def make_emails(servers: Servers, count: int, forwarded: bool, tag: str) -> list[bytes]:
    """`count` notification emails, one Figma file each (so a GET of comments stays small).
    Forwarded: the From is a person, so the file key comes from following the tracking link."""
    figma = servers.sandbox.figma
    bodies = []
    for n in range(count):
        key = f"Bench{tag}{n:08d}Key"
        figma.add_file(key, f"Bench file {n}")
        comment = figma.add_comment(key, f"@Anna Smith please check item {n} of the spacing")
        click_base = servers.sandbox.figma_url if forwarded else "https://click.figma.com"
        message = comment_email_message(figma, key, comment.id, click_base_url=click_base)
        if forwarded:
            message.replace_header("From", "Anna Smith <anna@example.com>")
            message.replace_header("Reply-To", "anna@example.com")
        bodies.append(message.as_bytes())
    return bodies


class Tail:
    """Follows the event store in global order: when each job reached each event type."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.position = 0
        self.seen: dict[str, dict[str, float]] = {}
        self.trace: dict[str, str] = {}

    async def poll(self) -> None:
        rows = await self.pool.fetch(
            "SELECT position, stream_id, type, recorded_at, metadata->>'traceparent' AS tp "
            "FROM events WHERE position > $1 ORDER BY position LIMIT 20000",
            self.position,
        )
        for row in rows:
            self.position = row["position"]
            kind = row["type"].split(".")[1]
            self.seen.setdefault(row["stream_id"], {}).setdefault(
                kind, row["recorded_at"].timestamp()
            )
            if row["tp"] and row["stream_id"] not in self.trace:
                self.trace[row["stream_id"]] = row["tp"].split("-")[1]

    def done(self, job: str) -> str | None:
        kinds = self.seen.get(job, {})
        return next(
            (k for k in ("confirmation_posted", "job_failed", "job_ignored") if k in kinds), None
        )

    async def wait(self, jobs: list[str], timeout: float, kind: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.poll()
            if all((kind in self.seen.get(j, {})) if kind else self.done(j) for j in jobs):
                return
            await asyncio.sleep(0.2)


async def send_steady(system, bodies: list[bytes], rate: float) -> dict[str, float]:
    """Send at `rate` emails/s (open loop, each on its own task); job id -> wall time sent."""
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(body: bytes) -> None:
            job, at = await post(http, system, body)
            sent[job] = at

        tasks = []
        start = time.monotonic()
        for n, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return sent


async def send_fast(system, bodies: list[bytes], concurrency: int) -> dict[str, float]:
    """Send as fast as the ingest accepts on `concurrency` connections."""
    sent: dict[str, float] = {}
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(timeout=60) as http:

        async def worker() -> None:
            while queue:
                job, at = await post(http, system, queue.pop())
                sent[job] = at

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


# -- per-process CPU -------------------------------------------------------------------------


def _cpu_seconds(pid: int, descendants: bool = True) -> float:
    """CPU time of a process, and of its reaped children and live descendants (Linux /proc)."""
    if not descendants:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack, seen = [pid], set()
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
        stack.extend(children.get(current, []))
    return total


class CpuMeter:
    """CPU seconds per process between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {n: _cpu_seconds(p, descendants=p != os.getpid()) for n, p in self.pids.items()}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> None:
        now = self._now()
        self.used = {n: now[n] - self.before[n] for n in self.pids}

    def per_job_ms(self, jobs: int) -> str:
        top = sorted(self.used.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{n} {s * 1000 / jobs:.1f}" for n, s in top if s > 0.005)


def sandbox_children() -> list[int]:
    """Pids of this process's sandbox_proc.py children."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == os.getpid() and b"sandbox_proc.py" in cmd:
                found.append(int(entry))
    return sorted(found)


def _pids(servers: Servers, system) -> dict[str, int]:
    pids = {name: p.process.pid for name, p in system.processes.items()}
    pids["postgres"] = servers.postgres_pid
    pids["nats"] = servers.nats_pid
    pids["bench (load+otlp)"] = os.getpid()
    for n, child in enumerate(sandbox_children()):
        pids[f"sandbox {('figma', 'notion+anthropic')[n]}"] = child
    return pids


# -- own overhead and end-to-end latency -----------------------------------------------------


def _external(span) -> bool:
    """An external call: a CLIENT span, or a span around one API request (`server.address`),
    as the notion client's (INTERNAL: it expects an httpx CLIENT span inside)."""
    if span.kind == SPAN_CLIENT:
        return True
    return span.kind != SPAN_SERVER and "server.address" in span.attributes


def _union_ns(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def overhead_parts_ms(spans) -> dict[str, float]:
    """Own time per service (its SERVER/CONSUMER spans minus the external calls inside them)
    and the hand-offs between them (the rest: relay, NATS, waiting for a worker)."""
    parts: dict[str, float] = {}
    for service in {s.service for s in spans}:
        mine = [s for s in spans if s.service == service]
        tops = [(s.start_ns, s.end_ns) for s in mine if s.kind in (SPAN_SERVER, 5)]
        if not tops:
            continue
        calls = [(s.start_ns, s.end_ns) for s in mine if _external(s)]
        own = _union_ns(tops) - _union_ns(calls)
        parts[service.removeprefix("figsync-")] = own / 1e6
    parts["hand-offs"] = overhead_ms(spans)[2] - sum(parts.values())
    return parts


def overhead_ms(spans) -> tuple[float, float, float]:
    """(trace wall time, time inside external calls, own overhead) of one job's trace."""
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    external = _union_ns([(s.start_ns, s.end_ns) for s in spans if _external(s)])
    return (end - start) / 1e6, external / 1e6, (end - start - external) / 1e6


async def latency(servers: Servers, jobs: int, rate: float) -> list[Row]:
    """Realistic latencies, `jobs` forwarded emails at `rate`/s: e2e latency and overhead."""
    async with running_system(servers) as run:
        system = run.system
        bodies = make_emails(servers, jobs + 3, forwarded=True, tag="L")
        for (server, route), ms in REALISTIC.items():
            getattr(servers.sandbox, server).faults.inject(route, latency={"ms": ms})
        tail = Tail(run.pool)
        warm = await send_steady(system, bodies[:3], 2)  # connections, caches, plans
        await tail.wait(list(warm), 60)
        sent = await send_steady(system, bodies[3:], rate)
        await tail.wait(list(sent), 60 + jobs / rate * 3)
        await asyncio.sleep(1.5)  # the processes export their last span batches
        e2e, overhead, inside, failed = [], [], [], 0
        parts: dict[str, list[float]] = {}
        for job, at in sent.items():
            seen = tail.seen.get(job, {})
            if "confirmation_posted" not in seen:
                failed += 1
                continue
            e2e.append((seen["confirmation_posted"] - at) * 1000)
            spans = servers.collector.trace(tail.trace.get(job, ""))
            if spans:
                wall, external, own = overhead_ms(spans)
                overhead.append(own)
                inside.append(external)
                for name, ms in overhead_parts_ms(spans).items():
                    parts.setdefault(name, []).append(ms)
    rows = _latency_rows(jobs, rate, e2e, overhead, inside, failed)
    if parts:
        split = sorted(((pct(v, 50), k) for k, v in parts.items() if k != "relay"), reverse=True)
        rows[0].notes.append("p50 by part: " + ", ".join(f"{k} {ms:.0f} ms" for ms, k in split))
    return rows


def _latency_rows(jobs, rate, e2e, overhead, inside, failed) -> list[Row]:
    if not e2e or not overhead:
        note = f"no completed job ({failed} of {jobs} did not confirm)"
        return [Row("own overhead per job", "p50 ≤ 30 ms, p99 ≤ 150 ms", "-", False, [note]),
                Row("end-to-end latency, realistic APIs", "≤ 1.03 × 2,650 ms", "-", False, [note])]  # fmt: skip
    o50, o95, o99 = pct(overhead, 50), pct(overhead, 95), pct(overhead, 99)
    e50, e99 = pct(e2e, 50), pct(e2e, 99)
    ratio50, ratio99 = e50 / REALISTIC_SUM_MS, e99 / REALISTIC_SUM_MS
    where = f"{len(overhead)} jobs at {rate:g}/s; external calls inside a trace p50 {pct(inside, 50):.0f} ms"
    notes = [where]
    if failed:
        notes.append(f"{failed} of {jobs} jobs did not confirm in time")
    return [
        Row("own overhead per job (traces)", "p50 ≤ 30 ms, p99 ≤ 150 ms",
            f"p50 {o50:.0f} / p95 {o95:.0f} / p99 {o99:.0f} ms", o50 <= 30 and o99 <= 150, notes),
        Row("end-to-end latency, realistic APIs", "≤ 1.03 × 2,650 ms",
            f"p50 {e50:.0f} ms ({ratio50:.2f}×) / p99 {e99:.0f} ms ({ratio99:.2f}×)",
            ratio50 <= 1.03 and not failed, [f"send → ConfirmationPosted; {len(e2e)} jobs"]),
    ]  # fmt: skip


# -- maximum sustained throughput ------------------------------------------------------------


async def throughput(servers: Servers, jobs: int, concurrency: int = 16) -> list[Row]:
    """Zero-latency APIs (served by processes of their own): send `jobs` emails as fast as
    the ingest takes them; completions/s."""
    # The ingest's abuse limits (20/s per source address, 50/s per team) would measure
    # themselves: this figure is about what the pipeline can carry.
    limits_off = {"FIGSYNC_RATE_PER_SOURCE": "0", "FIGSYNC_RATE_PER_TEAM": "0"}
    with sandbox_processes(jobs + 5, "T") as (sandbox, bodies):
        async with running_system(servers, sandbox=sandbox, **limits_off) as run:
            system = run.system
            tail = Tail(run.pool)
            warm = await send_fast(system, bodies[:5], 5)
            await tail.wait(list(warm), 60)
            meter = CpuMeter(_pids(servers, system))
            meter.start()
            started = time.time()
            sent_task = asyncio.create_task(send_fast(system, bodies[5:], concurrency))
            deadline = time.monotonic() + 60 + jobs / 5
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                await tail.poll()
                if sent_task.done() and all(tail.done(j) for j in sent_task.result()):
                    break
            sent = await sent_task
            meter.stop()
    done = sorted(tail.seen[j]["confirmation_posted"] for j in sent
                  if "confirmation_posted" in tail.seen.get(j, {}))  # fmt: skip
    ingest_rate = len(sent) / (max(sent.values()) - started)
    if len(done) < 10:
        return [Row("max sustained jobs/s, zero-latency APIs", "≥ 100 /s", "-", False,
                    [f"only {len(done)} of {jobs} jobs confirmed"])]  # fmt: skip
    lo, hi = int(len(done) * 0.1), int(len(done) * 0.9) - 1
    sustained = (hi - lo) / (done[hi] - done[lo])
    overall = len(done) / (done[-1] - started)
    notes = [
        f"{len(done)}/{jobs} confirmed; completions/s between the 10th and 90th percentile of "
        f"completions; overall {overall:.1f}/s; emails accepted at {ingest_rate:.0f}/s",
        f"CPU ms per job: {meter.per_job_ms(len(sent))}",
    ]
    own = sum(v for k, v in meter.used.items() if not k.startswith(("sandbox", "bench")))
    own_ms = own * 1000 / len(sent)
    cores = os.cpu_count() or 1
    notes.append(
        f"figsync's processes (Postgres and NATS included): {own_ms:.0f} ms CPU per job, "
        f"so at most {cores * 1000 / own_ms:.0f} jobs/s on {cores} idle cores"
    )
    return [Row("max sustained jobs/s, zero-latency APIs", "≥ 100 /s", f"{sustained:.1f} jobs/s",
                sustained >= 100 and len(done) == jobs, notes)]  # fmt: skip


# -- Notion pacing ---------------------------------------------------------------------------


async def notion_pacing(servers: Servers, tasks: int, limit: float = 3.0) -> list[Row]:
    """A backlog of `tasks` SummaryGenerated jobs, then the notion service alone against a
    Notion sandbox limited to `limit` requests/s (bursts of 10, as Notion allows)."""
    services = ["ingest", "figma", "summarizer", "notifier"]
    env = {"FIGSYNC_NOTION_REQUESTS_PER_SECOND": f"{limit:g}"}
    async with running_system(servers, services=services, **env) as run:
        system, spawn = run.system, run.spawn
        bodies = make_emails(servers, tasks, forwarded=False, tag="N")
        tail = Tail(run.pool)
        sent = await send_fast(system, bodies, 8)
        await tail.wait(list(sent), 120 + tasks / 2, kind="summary_generated")
        backlog = sum("summary_generated" in tail.seen.get(j, {}) for j in sent)
        servers.sandbox.notion.configure(rate_per_second=limit, burst=10)
        servers.sandbox.notion.clear_requests()
        begin = time.time()
        await asyncio.to_thread(spawn, "figsync_notion.main")
        await tail.wait(list(sent), 60 + tasks / limit * 4, kind="task_created")
    requests = [r for r in servers.sandbox.notion.requests() if r.time >= begin]
    created = [tail.seen[j]["task_created"] for j in sent if "task_created" in tail.seen.get(j, {})]
    limited = sum(1 for r in requests if r.status == 429)
    if not requests or len(created) < 2:
        return [Row("Notion pacing, 300-task backlog at 3 req/s", "≥ 95 % of limit, 0 × 429", "-",
                    False, [f"{len(created)} tasks created, backlog {backlog}"])]  # fmt: skip
    first, last = requests[0].time, requests[-1].time
    request_rate = (len(requests) - 1) / (last - first)
    task_rate = (len(created) - 1) / (max(created) - min(created))
    per_task = len(requests) / len(created)
    kinds: dict[str, int] = {}
    for r in requests:
        key = f"{r.method} {r.path.split('/')[2] if r.path.count('/') > 1 else r.path}"
        kinds[key] = kinds.get(key, 0) + 1
    ok = request_rate >= 0.95 * limit and limited == 0 and len(created) == tasks
    notes = [
        f"{len(created)}/{tasks} tasks; {len(requests)} requests ({per_task:.2f} per task: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + f"); tasks/s {task_rate:.2f}",
    ]
    return [Row(f"Notion pacing, {tasks}-task backlog at {limit:g} req/s",
                "≥ 95 % of limit, 0 × 429",
                f"{request_rate:.2f} req/s ({request_rate / limit:.0%}), {limited} × 429",
                ok, notes)]  # fmt: skip


# -- scale out: one shared Figma budget under a same-file burst ------------------------------


async def _seed_one_file(mirror, figma_url: str, key: str, texts: list[str]) -> list[bytes]:
    """Seed `texts` as comments on one new file of the sandbox Figma served by another process
    (its control API), and render their notification emails here from `mirror`, a local
    FigmaState given the same calls in the same order (ids and times then agree: checked)."""
    mirror.add_file(key, f"Bench file {key}")
    bodies = []
    async with httpx.AsyncClient(base_url=figma_url, timeout=30) as http:
        answer = await http.post("/_sandbox/files", json={"key": key, "name": f"Bench file {key}"})
        answer.raise_for_status()
        for text in texts:
            answer = await http.post(f"/_sandbox/files/{key}/comments",
                                     json={"message": text, "emit": False})  # fmt: skip
            answer.raise_for_status()
            comment = mirror.add_comment(key, text, emit=False)
            if answer.json()["id"] != comment.id:
                raise RuntimeError(f"the sandbox process gave comment id {answer.json()['id']}, "
                                   f"the local copy {comment.id}: their states differ")  # fmt: skip
            bodies.append(comment_email_message(mirror, key, comment.id).as_bytes())
    return bodies


async def _figma_control(figma_url: str, method: str, path: str, **kw) -> dict:
    async with httpx.AsyncClient(base_url=figma_url, timeout=30) as http:
        answer = await http.request(method, f"/_sandbox{path}", **kw)
        answer.raise_for_status()
        return answer.json()


async def scale_out(servers: Servers, jobs: int, replicas: int = 3) -> list[Row]:
    """A burst of `jobs` notification emails on ONE Figma file, sent as fast as the ingest
    takes them, against a sandbox Figma (a process of its own) enforcing the Tier-2 limit of
    an Enterprise plan's Full seat (100/min), with `replicas` of the figma and notifier
    services (the two that call Figma) drawing on the token's one shared budget. Figma calls
    per job, the share of the limit used while busy, and the wall time against the bound the
    limit sets."""
    from figsync_clients.figma import PACE, tier2_per_minute
    from figsync_sandbox.figma import FigmaState

    plan, seat = "enterprise", "full"
    limit = tier2_per_minute(plan, seat)
    env = {
        "FIGSYNC_FIGMA_REQUESTS_PER_MINUTE": "",  # no override: the plan's limit
        "FIGSYNC_FIGMA_PLAN": plan,
        "FIGSYNC_FIGMA_SEAT": seat,
        # Figma's is the one budget measured: the summarizer's Anthropic pacing (50/min by
        # default, below Figma's 100) would pace the burst instead; the sandbox has no limit.
        "FIGSYNC_ANTHROPIC_REQUESTS_PER_MINUTE": "100000",
        # The burst would measure the ingest's abuse limits (20/s per address, 50/s per team).
        "FIGSYNC_RATE_PER_SOURCE": "0",
        "FIGSYNC_RATE_PER_TEAM": "0",
    }
    texts = [f"@Anna Smith please check item {n} of the spacing" for n in range(jobs)]
    with sandbox_processes(0, "S") as (sandbox, _):
        url = sandbox.figma_url
        mirror = FigmaState()  # as fresh as the sandbox process's
        warm = await _seed_one_file(mirror, url, "BenchSWarmUp0000Key", [texts[0]])
        bodies = await _seed_one_file(mirror, url, "BenchSBurst00000Key", texts)
        async with running_system(servers, sandbox=sandbox, **env) as run:
            system, tail = run.system, Tail(run.pool)
            for name in ("figma", "notifier"):
                for replica in range(2, replicas + 1):
                    system.processes[f"{name}#{replica}"] = await asyncio.to_thread(
                        run.spawn, f"figsync_{name}.main")  # fmt: skip
            # One job first (another file): connections, the token's user (cached for an
            # hour, shared), plans. Then the limit, fresh windows, and an idle budget.
            await tail.wait(list(await send_fast(system, warm, 1)), 60)
            await _figma_control(url, "POST", "/config",
                                 json={"tier2_per_minute": limit, "tier3_per_minute": limit})  # fmt: skip
            await _figma_control(url, "DELETE", "/requests")
            await asyncio.sleep(60 / (limit * PACE) + 0.5)
            sent = await send_fast(system, bodies, 16)
            await tail.wait(list(sent), 60 + jobs * 60 / limit * 2)
            requests = (await _figma_control(url, "GET", "/requests"))["requests"]
            refused = sum(p.logs().count("figma.budget_exhausted")
                          for n, p in system.processes.items() if n.startswith("notifier"))  # fmt: skip
    return _scale_out_rows(jobs, replicas, limit, sent, tail, requests, refused)


def _scale_out_rows(jobs, replicas, limit, sent, tail, requests, refused) -> list[Row]:
    from figsync_clients.figma import PACE

    names = ("Figma calls per job, same-file burst", "achieved share of the Figma budget",
             "burst wall time against the budget's bound")  # fmt: skip
    targets = ("≤ 1.2", "≥ 90 %", "≤ 1.15 ×")
    calls = sorted((r for r in requests if r["path"].startswith("/v1/")), key=lambda r: r["time"])
    confirmed = [tail.seen[j]["confirmation_posted"] for j in sent
                 if "confirmation_posted" in tail.seen.get(j, {})]  # fmt: skip
    if len(calls) < 2 or not confirmed:
        note = f"{len(confirmed)}/{jobs} confirmed, {len(calls)} Figma calls"
        return [Row(n, t, "-", False, [note]) for n, t in zip(names, targets, strict=True)]
    kinds: dict[str, int] = {}
    for r in calls:
        kind = f"{r['method']} {'comments' if r['path'].endswith('/comments') else r['path']}"
        kind += " (429)" if r["status"] == 429 else ""
        kinds[kind] = kinds.get(kind, 0) + 1
    limited = sum(1 for r in calls if r["status"] == 429)
    reads = sum(1 for r in calls if r["method"] == "GET" and r["status"] != 429)
    replies = [r["time"] for r in calls if r["method"] == "POST" and r["status"] != 429]
    per_job = len(calls) / jobs
    first, last = calls[0]["time"], calls[-1]["time"]
    rate = (len(calls) - 1) / (last - first) * 60  # calls per minute between first and last
    share = rate / limit
    started = min(sent.values())
    wall = max(confirmed) - started
    needed = jobs + reads  # one reply per job, and the reads that fed them
    bound = needed / (limit / 60)
    ratio = wall / bound
    everyone = len(confirmed) == jobs
    setup = [f"{jobs} emails on one file sent at once; {replicas} replicas each of figma and "
             f"notifier; sandbox Figma enforcing {limit}/min per token (Enterprise plan, Full "
             f"seat), figsync pacing at {PACE:.0%} of it; Notion and Anthropic not limiting "
             "(neither the sandbox nor figsync's pacing)"]  # fmt: skip
    if not everyone:
        ends = sorted({str(tail.done(j)) for j in sent})
        setup.append(f"{jobs - len(confirmed)} of {jobs} jobs not confirmed in time ({ends})")
    split = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    lead = f"{replies[0] - started:.1f} s" if replies else "-"
    return [
        Row(names[0], targets[0], f"{per_job:.2f}", per_job <= 1.2 and everyone and not limited,
            [*setup, f"{len(calls)} Figma calls: {split}"]),
        Row(names[1], targets[1], f"{share:.0%} ({rate:.1f}/min of {limit}/min)",
            share >= 0.90 and not limited,
            [f"{len(calls)} calls in {last - first:.1f} s, first to last; the first "
             f"{first - started:.1f} s after the first email; pacing at {PACE:.0%} makes "
             f"{PACE:.0%} the ceiling; {limited} × 429; {refused} replies refused by the budget "
             "(slot > 20 s away: redelivered, no attempt spent)"]),
        Row(names[2], targets[2], f"{ratio:.2f}× ({wall:.1f} s / {bound:.1f} s)",
            ratio <= 1.15 and everyone,
            [f"wall {wall:.1f} s: first email posted → last ConfirmationPosted; bound "
             f"{bound:.1f} s = {needed} calls needed ({jobs} replies + {reads} reads) at "
             f"{limit}/min; first reply {lead} after the first email, last confirmation "
             f"{max(confirmed) - last:.1f} s after the last call"]),
    ]  # fmt: skip
