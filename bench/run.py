"""Every figure of issue 14 on this machine, printed as one table (figure, target, measured,
status, before, notes). `make bench` runs the full mode; `--quick` is the CI mode.

    .venv/bin/python bench/run.py [--quick] [--only overhead,throughput,notion,ingest,projector,parse]
    .venv/bin/python bench/run.py --quick --only budget,scaleout   # the issue "Scale out"

Methods: bench/README.md. Numbers from a shared 2-core machine are noisy: the table's header
says the load average before and after, and every figure states its counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loop_bench import Row  # noqa: E402

from figsync_sandbox.fixtures import figma_mention_email  # noqa: E402

FIXTURE = figma_mention_email()
FIGURES = ["overhead", "throughput", "notion", "ingest", "projector", "parse", "budget", "scaleout"]


@dataclass(frozen=True)
class Mode:
    latency_jobs: int
    latency_rate: float
    throughput_jobs: int
    notion_tasks: int
    ingest_requests: int
    projector_events: int
    parse_seconds: float
    budget_acquires: int  # timed shared-budget acquires, 3 replicas x 16 callers
    scaleout_jobs: int  # emails in the same-file burst against Figma's 100/min


QUICK = Mode(12, 2.0, 100, 30, 1000, 100_000, 2.0, 3000, 40)
FULL = Mode(100, 2.0, 1000, 300, 5000, 1_000_000, 10.0, 30_000, 120)

# What each figure measured before this fixes (same shared machine), and what a miss
# says: why, and what would close the gap. From profiles with py-spy (bench/README.md).
BEFORE: dict[str, str] = {
    "own overhead per job": "p50 1169 / p95 1677 / p99 1709 ms (quick mode)",
    "end-to-end latency": "p50 3849 ms (1.45×) / p99 4387 ms (1.66×) (quick mode)",
    "Notion pacing": "e2e env (5 s ack wait): 3.01 req/s, 0 × 429, but 2.15 requests per task, "
    "1.45 tasks/s: redelivered jobs looked their page up again",
}
GAPS: dict[str, str] = {
    "own overhead per job": (
        "why: CPU time per step on a shared 2-core machine (load in the header), figma's first: "
        "parse_email builds a BeautifulSoup tree (4 of its 5 ms on an idle core; lxml.html "
        "alone takes 0.3 ms), each append is ~6 round trips under the store's global lock, "
        "asyncpg resets each connection on release, every process exports spans. "
        "Close: parse on lxml.html, a one-round-trip append, a pool without reset, a quiet machine"
    ),
    "end-to-end latency": (
        "why: the own overhead above, plus Notion schema calls (databases, data_sources) "
        "before a job's first page. Closes with the overhead"
    ),
    "max sustained jobs/s": (
        "why: CPU-bound, not queue-bound (see the CPU split and the ceiling it implies); 100/s "
        "on 2 cores needs ≤ 20 ms of CPU per job in all processes together. Close: replicas "
        "on more cores (KEDA scales on lag), then per-job cost: parse on lxml.html, batched "
        "relay publishes (async PubAcks), one-round-trip appends, no pool reset per release"
    ),
    "ingest accepted emails/s and p99": (
        "why: ~9 Postgres round trips per email under the store's global append lock on a "
        "loaded machine (bench/README.md, ingest). Close: uvloop/httptools, the delivery-id "
        "check inside the append transaction, a pool without per-release reset"
    ),
    "Notion pacing": (
        "why: see the request split — every request counts against the 3/s, not only pages"
    ),
    "Figma calls per job": (
        "why: see the split by call — more than one comments read per 10 s of burst means the "
        "shared read (SharedCache) was missed; a 429 means the budget let too many through"
    ),
    "achieved share of the Figma budget": (
        "why: idle time in the busy window (the split says when the first reply came): replies "
        "refused by the budget (wait > 20 s) come back by redelivery, late or bunched"
    ),
    "burst wall time against the budget's bound": (
        "why: the pipeline's latency before the first reply and after the last, over a burst "
        "this short, and the 95 % pace (up to 1.05× by itself); a bigger burst amortises the "
        "first. A step paced below Figma (see when the replies came) bounds the burst instead"
    ),
}


# -- figures that need no running system -----------------------------------------------------


def parse_rate(seconds: float) -> list[Row]:
    """parse_email over the real fixture in this process, per CPU-second of one core."""
    from figsync_figma.parse import parse_email

    html = FIXTURE.read_text()
    sender = "comments-Xk3pQ9dLm2RtV8bNc4HsZa@email.figma.com"
    for _ in range(5):
        parse_email(html, sender)
    count, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        parse_email(html, sender)
        count += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rate = count / cpu
    notes = [f"{count} parses of {len(html):,} B in {cpu:.1f} CPU s (wall {count / wall:.0f}/s)"]
    return [
        Row(
            "parses/s per core, real fixture email",
            "≥ 150 /s",
            f"{rate:.0f} /s",
            rate >= 150,
            notes,
        )
    ]


def _script(name: str, *args: str, timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, str(HERE / name), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{name} exited {done.returncode}: {done.stderr[-1500:]}")
    return done.stdout


def budget_cost(acquires: int) -> list[Row]:
    """bench/budget_bench.py: SharedBudgets.acquire timed, alone and 3 replicas x 16 callers."""
    out = _script("budget_bench.py", "--acquires", str(acquires), "--replicas", "3",
                  "--callers", "16", timeout=600)  # fmt: skip
    levels = {}
    for line in out.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) == 10 and cols[0] in ("one caller", "shared"):
            # level | replicas | callers | pool | acquires | acquires/s | p50 | p95 | p99 | max
            levels[cols[0]] = [float(c) for c in cols[1:]]
    if set(levels) != {"one caller", "shared"}:
        raise RuntimeError(f"budget_bench.py printed no result:\n{out[-1500:]}")
    one, shared = levels["one caller"], levels["shared"]
    notes = [
        f"one budget (one row); {int(shared[3]):,} timed acquires from {int(shared[0])} "
        f"processes × {int(shared[1])} callers, {int(shared[2])} connections each (the "
        f"services' pool), closed loop at saturation: a call's time is mostly waiting for a "
        f"connection and the row lock ({int(shared[1] * shared[0])} callers / "
        f"{shared[4]:,.0f} per s ≈ {shared[1] * shared[0] / shared[4] * 1000:.0f} ms)",
        f"one caller alone: p50 {one[5]:.2f} / p99 {one[7]:.2f} ms, {one[4]:,.0f} acquires/s",
        "no target: an acquire precedes an outside call of 100s of ms, and one credential "
        "sees calls at its API's rate (Figma 100/min, Notion 3/s), far below this ceiling; "
        "fsync is off in the embedded Postgres (production adds a WAL flush per commit)",
    ]
    return [Row("cost of one shared-budget acquire (p50/p99)", "measured",
                f"p50 {shared[5]:.2f} / p99 {shared[7]:.2f} ms, {shared[4]:,.0f} acquires/s "
                f"(3 × 16 callers)", None, notes)]  # fmt: skip


def ingest(requests: int) -> list[Row]:
    """bench/ingest_bench.py: new signed JSON emails at concurrency 16 and 64."""
    out = _script("ingest_bench.py", "--requests", str(requests), "--concurrency", "16,64",
                  timeout=900)  # fmt: skip
    levels = []
    for line in out.splitlines():
        if line.startswith("new emails"):
            cols = line.split()
            # new emails <conc> <requests> <answered/s> <accepted/s> <p50> <p95> <p99> ...
            levels.append((int(cols[2]), float(cols[5]), float(cols[8])))
    if not levels:
        raise RuntimeError(f"ingest_bench.py printed no result:\n{out[-1500:]}")
    conc, best, p99 = max(levels, key=lambda level: level[1])
    ok = best >= 1000 and p99 <= 50
    notes = [f"{requests} emails per level; " + "; ".join(
        f"c={c}: {rate:.0f}/s p99 {p:.0f} ms" for c, rate, p in levels)]  # fmt: skip
    return [Row("ingest accepted emails/s and p99", "≥ 1,000 /s, p99 ≤ 50 ms",
                f"{best:.0f} /s, p99 {p99:.0f} ms (c={conc})", ok, notes)]  # fmt: skip


def projector(events: int) -> list[Row]:
    """bench/projector_bench.py: rebuild every view from `events` stored events."""
    out = _script("projector_bench.py", "--events", str(events), timeout=3600)
    found = re.search(r"rebuild events/s\s*\|\s*([\d,]+)", out)
    seconds = re.search(r"rebuild s\s*\|\s*([\d.]+)", out)
    if not found:
        raise RuntimeError(f"projector_bench.py printed no result:\n{out[-1500:]}")
    rate = float(found.group(1).replace(",", ""))
    notes = [f"{events:,} events, rebuild {seconds.group(1) if seconds else '?'} s"]
    return [Row(f"projection rebuild events/s ({events:,} events)", "≥ 20,000 /s",
                f"{rate:,.0f} /s", rate >= 20_000, notes)]  # fmt: skip


# -- figures of the running loop -------------------------------------------------------------


async def loop_figures(mode: Mode, only: list[str]) -> list[Row]:
    import loop_bench
    from harness import servers

    rows: list[Row] = []
    with servers() as shared:
        if "overhead" in only:
            rows += await _guard("own overhead per job", loop_bench.latency(
                shared, mode.latency_jobs, mode.latency_rate))  # fmt: skip
        if "throughput" in only:
            rows += await _guard("max sustained jobs/s", loop_bench.throughput(
                shared, mode.throughput_jobs))  # fmt: skip
        if "notion" in only:
            rows += await _guard("Notion pacing", loop_bench.notion_pacing(
                shared, mode.notion_tasks))  # fmt: skip
        if "scaleout" in only:
            rows += await _guard("scale-out burst (Figma calls, budget share, wall)",
                                 loop_bench.scale_out(shared, mode.scaleout_jobs))  # fmt: skip
    return rows


def _failed(name: str, error: Exception) -> list[Row]:
    # One line for the table: the head of the message and the tail (a child's last log lines).
    text = " ".join(f"{type(error).__name__}: {error}".split()).replace("|", "/")
    text = text if len(text) <= 400 else f"{text[:150]} … {text[-250:]}"
    return [Row(name, "", "error", False, [text])]


async def _guard(name: str, figure) -> list[Row]:
    try:
        return await figure
    except Exception as error:  # one broken figure must not hide the others
        return _failed(name, error)


def _guard_sync(name: str, figure, *args) -> list[Row]:
    try:
        return figure(*args)
    except Exception as error:
        return _failed(name, error)


# -- the table -------------------------------------------------------------------------------


def _key(row: Row) -> str:
    return row.figure.split(",")[0].split("(")[0].strip()


def table(rows: list[Row], mode_name: str, load: tuple[str, str], elapsed: float) -> str:
    status = {True: "met", False: "MISSED", None: "-"}
    lines = [
        f"figsync benchmarks ({mode_name} mode): {os.cpu_count()} cores, load average "
        f"{load[0]} before / {load[1]} after, {elapsed:.0f} s. The machine is shared: "
        "numbers are noisy, read misses near a target with care.",
        "",
        "| figure | target | measured | status | before | notes |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        notes = list(row.notes)
        if row.ok is False and _key(row) in GAPS:
            notes.append(GAPS[_key(row)])
        lines.append(
            f"| {row.figure} | {row.target} | {row.measured} | {status[row.ok]} | "
            f"{BEFORE.get(_key(row), '')} | {' — '.join(notes)} |"
        )
    return "\n".join(lines)


def _load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (CI, ~4 minutes)")
    parser.add_argument(
        "--only", default=",".join(FIGURES), help="comma-separated: " + ",".join(FIGURES)
    )
    args = parser.parse_args(argv)
    only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}; choose from {FIGURES}")
    mode = QUICK if args.quick else FULL
    started, load_before = time.monotonic(), _load()
    rows: list[Row] = []
    if {"overhead", "throughput", "notion", "scaleout"} & set(only):
        rows += asyncio.run(loop_figures(mode, only))
    if "ingest" in only:
        rows += _guard_sync("ingest accepted emails/s", ingest, mode.ingest_requests)
    if "projector" in only:
        rows += _guard_sync("projection rebuild events/s", projector, mode.projector_events)
    if "parse" in only:
        rows += _guard_sync("parses/s per core", parse_rate, mode.parse_seconds)
    if "budget" in only:
        rows += _guard_sync("cost of one shared-budget acquire", budget_cost, mode.budget_acquires)
    elapsed = time.monotonic() - started
    print(table(rows, "quick" if args.quick else "full", (load_before, _load()), elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
