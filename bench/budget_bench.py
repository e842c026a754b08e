"""Cost of one shared-budget acquire: `SharedBudgets(pool).acquire(budget)` timed per call.

    .venv/bin/python bench/budget_bench.py [--replicas 3] [--callers 16] [--acquires 30000]

Uses FIGSYNC_DATABASE_URL's server if set (a scratch database is created and dropped there),
else an embedded Postgres; the database is migrated (migration 0010: `rate_budgets` and
`figsync_budget_acquire`). Two levels, both on ONE budget (one credential, one row):

- one caller: one process, one pool, one caller after another (the round trip's floor);
- shared: `--replicas` processes (as replicas of a service), each with its own pool of
  `--pool-size` connections (the services' default, FIGSYNC_DB_POOL_MAX_SIZE=4) and
  `--callers` concurrent callers, started together, `--acquires` calls in all.

The budget's rate is so high (10⁹ calls a minute) that no call waits for its slot, so a
call's time is what the budget itself costs: waiting for a pooled connection, the statement
(insert-if-absent, row lock, update, commit) and waiting for the row lock behind the other
callers. Every call is timed from before `acquire()` to its return. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from statistics import quantiles
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from figsync_clients.budget import Budget, SharedBudgets
from figsync_eventstore import create_pool

BUDGET = Budget("bench", "shared-credential", rate=1e9, period=60.0)
WARM_UP = 20  # calls per caller before the timed ones: connections open, plans cached


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def callers(url: str, count: int, concurrency: int, pool_size: int, start_at: float
                  ) -> dict[str, object]:  # fmt: skip
    """`concurrency` callers sharing one pool, `count` timed acquires in all; start at
    `start_at` (wall clock) so that the replicas begin together."""
    pool = await create_pool(url, min_size=pool_size, max_size=pool_size)
    budgets = SharedBudgets(pool)
    try:
        await asyncio.gather(*(_loop(budgets, WARM_UP, []) for _ in range(concurrency)))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        shares = [count // concurrency + (n < count % concurrency) for n in range(concurrency)]
        times: list[float] = []
        began = time.time()
        await asyncio.gather(*(_loop(budgets, share, times) for share in shares))
        ended = time.time()
    finally:
        await pool.close()
    return {"began": began, "ended": ended, "ms": times}


async def _loop(budgets: SharedBudgets, count: int, times: list[float]) -> None:
    for _ in range(count):
        t0 = time.perf_counter()
        await budgets.acquire(BUDGET)
        times.append((time.perf_counter() - t0) * 1000)


def _pct(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1]


def _line(level: str, replicas: int, callers_: int, pool: int, results: list[dict]) -> str:
    ms = [t for r in results for t in r["ms"]]
    seconds = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return (
        f"{level} | {replicas} | {callers_} | {pool} | {len(ms)} | {len(ms) / seconds:.0f} | "
        f"{_pct(ms, 50):.2f} | {_pct(ms, 95):.2f} | {_pct(ms, 99):.2f} | {max(ms):.2f}"
    )


def replica(args: argparse.Namespace) -> None:
    """Child process: one replica's callers; prints its timings as one JSON line."""
    result = asyncio.run(callers(args.url, args.acquires, args.callers, args.pool_size,
                                 args.start_at))  # fmt: skip
    print(json.dumps(result))


async def bench(server_url: str, args: argparse.Namespace) -> None:
    from harness import scratch_database

    async with scratch_database(server_url) as url:
        single = await callers(url, max(200, args.acquires // 10), 1, args.pool_size, 0.0)
        per_replica = [args.acquires // args.replicas + (n < args.acquires % args.replicas)
                       for n in range(args.replicas)]  # fmt: skip
        start_at = time.time() + 2.0 + 0.5 * args.replicas  # every replica connected by then
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--replica",
                "--url",
                url,
                "--acquires",
                str(count),
                "--callers",
                str(args.callers),
                "--pool-size",
                str(args.pool_size),
                "--start-at",
                repr(start_at),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            for count in per_replica
        ]
        outputs = [(await child.communicate())[0].decode() for child in children]
        if any(child.returncode for child in children):
            raise SystemExit(f"a replica failed: {[c.returncode for c in children]}")
        shared = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
        conn = await asyncpg.connect(url)
        granted = await conn.fetchval("SELECT granted FROM rate_budgets WHERE key = $1", BUDGET.key)
        await conn.close()
    late = max(r["began"] for r in shared) - min(r["began"] for r in shared)
    print("level | replicas | callers | pool | acquires | acquires/s | p50 ms | p95 ms | "
          "p99 ms | max ms")  # fmt: skip
    print("---|---|---|---|---|---|---|---|---|---")
    print(_line("one caller", 1, 1, args.pool_size, [single]))
    print(_line("shared", args.replicas, args.callers, args.pool_size, shared))
    print(f"\nrows granted {granted:,} (warm-up included); replicas began within {late:.2f} s "
          f"of each other; {os.cpu_count()} cores")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers per replica")
    parser.add_argument("--pool-size", type=int, default=4, help="connections per replica")
    parser.add_argument("--acquires", type=int, default=30_000, help="timed acquires in all")
    parser.add_argument("--replica", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        replica(args)
        return
    from harness import database_server

    with database_server() as url:
        asyncio.run(bench(url, args))


if __name__ == "__main__":
    main()
