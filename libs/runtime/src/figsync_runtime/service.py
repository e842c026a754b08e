"""The service host: builds the shared resources, wires a service's steps and HTTP app, and
runs them until SIGTERM/SIGINT. A service's bootstrap decides what runs; this decides how."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
import uvicorn
from faststream.nats import NatsBroker
from starlette.applications import Starlette

from figsync_eventstore import PostgresEventStore, create_pool
from figsync_eventstore.jetstream import ensure_stream
from figsync_runtime.consumer import build_broker, subscribe
from figsync_runtime.http import add_health_routes
from figsync_runtime.locks import PostgresStepLocks
from figsync_runtime.logs import configure_logging, register_secret
from figsync_runtime.resumer import run_resumer
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.settings import RuntimeSettings, SettingsError
from figsync_runtime.steps import RetryPolicy, Step, StepRunner
from figsync_runtime.teams import TeamRepository
from figsync_runtime.tracing import configure_tracing

log = structlog.get_logger("figsync.service")


@dataclass
class Resources:
    """What a bootstrap gets to build its handlers from."""

    name: str
    settings: RuntimeSettings
    pool: asyncpg.Pool
    store: PostgresEventStore
    broker: NatsBroker
    stop: asyncio.Event
    teams: TeamRepository


BackgroundTask = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Wiring:
    """What a service runs: its steps, its HTTP app (health routes are added), its loops."""

    steps: Sequence[Step] = ()
    app: Starlette | None = None
    tasks: Sequence[BackgroundTask] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


def secret_box(settings: RuntimeSettings) -> SecretBox:
    key = settings.secret_key.get_secret_value() if settings.secret_key else DEVELOPMENT_KEY
    return SecretBox(key)


def retry_policy(settings: RuntimeSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_deliveries,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        defer_threshold=settings.defer_threshold_seconds,
    )


async def serve(
    name: str,
    settings: RuntimeSettings,
    build: Callable[[Resources], Awaitable[Wiring]],
    stop: asyncio.Event | None = None,
) -> None:
    """Run a service until stopped: Postgres pool, NATS consumer(s), HTTP, background loops."""
    configure_logging(name, settings.log_level, settings.log_format)
    provider = configure_tracing(name, settings.trace_console)
    if settings.secret_key:
        register_secret(settings.secret_key.get_secret_value())
    elif not settings.is_development:
        raise SettingsError(
            "settings.secret_key_missing: FIGSYNC_SECRET_KEY is required outside development "
            "(make one with `figsync secret-key`)"
        )
    database_url, nats_url = settings.require_urls()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    pool = await create_pool(database_url, max_size=10)
    broker = build_broker(nats_url, name)
    await broker.connect()
    await ensure_stream(broker.connection.jetstream(), settings.stream())
    store = PostgresEventStore(pool)
    teams = TeamRepository(store, secret_box(settings))
    resources = Resources(name, settings, pool, store, broker, stop, teams)
    wiring = await build(resources)

    lock_pool = None
    if wiring.steps:
        # Each message in flight may hold one connection for its step lock.
        workers = settings.consumer_max_workers * len(wiring.steps)
        lock_pool = await create_pool(database_url, min_size=0, max_size=workers + 2)
        wiring.on_stop = [*wiring.on_stop, lock_pool.close]
    for step in wiring.steps:
        runner = StepRunner(
            step, resources.store, retry_policy(settings), locks=PostgresStepLocks(lock_pool)
        )
        subscribe(broker, runner, settings, durable=f"figsync-{step.name}")
    await broker.start()

    async def database_ready() -> bool:
        return await pool.fetchval("SELECT 1") == 1

    async def nats_ready() -> bool:
        return broker.connection.is_connected

    app = add_health_routes(
        wiring.app or Starlette(), {"postgres": database_ready, "nats": nats_ready}
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None,
                       access_log=False, lifespan="on")
    )  # fmt: skip
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loops = [asyncio.create_task(task(stop)) for task in wiring.tasks]
    loops += [
        asyncio.create_task(run_resumer(resources.store, step.name, stop)) for step in wiring.steps
    ]
    http = asyncio.create_task(server.serve())
    log.info("service started", http=f"http://{settings.http_host}:{settings.http_port}")
    try:
        await stop.wait()
    finally:
        log.info("service stopping")
        server.should_exit = True
        await broker.stop()
        for task in loops:
            task.cancel()
        await asyncio.gather(http, *loops, return_exceptions=True)
        for hook in wiring.on_stop:
            await hook()
        await pool.close()
        provider.shutdown()


def run(
    name: str, settings: RuntimeSettings, build: Callable[[Resources], Awaitable[Wiring]]
) -> None:
    """Entry point helper: serve until SIGTERM/SIGINT (on uvloop where it is installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(name, settings, build))
    else:
        uvloop.run(serve(name, settings, build))
