"""Background loops that cannot die quietly, and a service that waits for its schema."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
import uvicorn
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from figsync_eventstore.migrate import missing_migrations
from figsync_runtime.http import add_health_routes

log = structlog.get_logger("figsync.supervision")

TASK_RESTARTS = Counter(
    "figsync_background_task_restarts_total",
    "Background loops of a service that died and were restarted.",
    ["task"],
)

BackgroundTask = Callable[[asyncio.Event], Awaitable[None]]


class Supervisor:
    """Runs a service's background loops. A loop that raises, or returns while the service
    runs, is logged with its traceback and restarted with growing delay; the service reports
    not ready from then until the loop has run `healthy_after` seconds again."""

    def __init__(self, stop: asyncio.Event, healthy_after: float = 30.0) -> None:
        self.stop = stop
        self.healthy_after = healthy_after
        self.tasks: list[asyncio.Task] = []
        self._died: dict[str, tuple[float, str]] = {}

    def start(self, name: str, loop: BackgroundTask) -> asyncio.Task:
        task = asyncio.create_task(self._supervise(name, loop), name=name)
        self.tasks.append(task)
        return task

    def ready(self) -> bool:
        now = time.monotonic()
        return all(now - died > self.healthy_after for died, _ in self._died.values())

    def problems(self) -> dict[str, str]:
        """Loops that died recently, with why."""
        now = time.monotonic()
        return {n: why for n, (died, why) in self._died.items() if now - died <= self.healthy_after}

    async def _supervise(self, name: str, loop: BackgroundTask) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                await loop(self.stop)
                if self.stop.is_set():
                    return
                why = "returned while the service runs"
                log.error("background task ended unexpectedly; restarting", task=name)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                why = f"{type(error).__name__}: {error}"
                log.exception("background task died; restarting", task=name, error=why)
            self._died[name] = (time.monotonic(), why)
            TASK_RESTARTS.labels(name).inc()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stop.wait()
            delay = min(delay * 2, 30.0)

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def schema_problem(database_url: str) -> str | None:
    """Why this process cannot start yet (schema not migrated, Postgres unreachable), or None."""
    try:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            missing = await missing_migrations(conn)
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        return f"postgres unreachable: {type(error).__name__}: {error}"
    return f"migrations {missing} not applied yet: run `figsync migrate`" if missing else None


async def wait_for_schema(
    database_url: str, stop: asyncio.Event, interval: float = 2.0, log_every: float = 30.0
) -> None:
    """Return once every shipped migration is applied (or `stop` is set), saying what it
    waits for: a process started before `figsync migrate` comes up by itself after it."""
    last_said = -log_every
    while not stop.is_set():
        why = await schema_problem(database_url)
        if why is None:
            return
        if time.monotonic() - last_said >= log_every:
            log.warning("waiting for the database schema", reason=why)
            last_said = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()


@contextlib.asynccontextmanager
async def starting_health_server(host: str, port: int) -> AsyncIterator[None]:
    """While a service starts: /healthz answers 200 and /readyz 503 on its port, so an
    orchestrator neither restarts a process that waits for its schema nor sends it traffic."""

    async def not_yet() -> bool:
        return False

    async def starting(_: Request) -> Response:
        return JSONResponse(
            {"error": {"code": "service.starting", "message": "this service is starting "
                       "(waiting for the database schema); send the request again shortly"}},
            status_code=503,
            headers={"Retry-After": "2"},
        )  # fmt: skip

    app = add_health_routes(Starlette(), {"started": not_yet})
    app.add_route("/{path:path}", starting, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                       lifespan="off")
    )  # fmt: skip
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
