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

from figsync_contracts.steps import consumer_name
from figsync_eventstore import PostgresEventStore, create_pool
from figsync_eventstore.jetstream import ensure_stream
from figsync_runtime.consumer import build_broker, subscribe
from figsync_runtime.hooks import Hooks
from figsync_runtime.hooks import installed as installed_hooks
from figsync_runtime.http import Check, add_health_routes
from figsync_runtime.locks import PostgresAttempts, PostgresStepLocks
from figsync_runtime.logs import configure_logging, register_secret
from figsync_runtime.resumer import run_resumer
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.settings import RuntimeSettings, SettingsError
from figsync_runtime.steps import Clock, RetryPolicy, Step, StepRunner, SystemClock
from figsync_runtime.supervision import (
    BackgroundTask,
    Supervisor,
    schema_problem,
    starting_health_server,
    wait_for_schema,
)
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
    # What a test injects (crash points, a clock, local http hosts); none in production.
    hooks: Hooks = field(default_factory=Hooks)


@dataclass
class Wiring:
    """What a service runs: its steps, its HTTP app (health routes are added), its loops
    (supervised: restarted if they die), and readiness checks of its own."""

    steps: Sequence[Step] = ()
    app: Starlette | None = None
    tasks: Sequence[BackgroundTask] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)


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
    hooks = installed_hooks()
    if hooks.active and not settings.is_development:
        raise SettingsError(
            f"settings.test_hooks_outside_development: test hooks ({', '.join(hooks.active)}) "
            f"are set but FIGSYNC_ENVIRONMENT is {settings.environment!r}; they are for tests "
            "only (figsync_testkit.run)"
        )
    database_url, nats_url = settings.require_urls()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    # Started before `figsync migrate` (every pod applied at once): wait for the schema,
    # alive but not ready, instead of failing in ways that need a manual restart.
    if await schema_problem(database_url) is not None:
        async with starting_health_server(settings.http_host, settings.http_port):
            await wait_for_schema(database_url, stop)
    if stop.is_set():
        return

    pool = await create_pool(database_url, min_size=1, max_size=settings.db_pool_max_size)
    broker = build_broker(nats_url, name, graceful_timeout=settings.shutdown_grace_seconds)
    await broker.connect()
    fits = broker.connection.max_payload - 64 * 1024  # room for headers
    if settings.max_event_bytes > fits:
        log.warning("max_event_bytes lowered to fit the NATS server's max_payload",
                    configured=settings.max_event_bytes, effective=fits)  # fmt: skip
        settings.max_event_bytes = fits
    await ensure_stream(broker.connection.jetstream(), settings.stream())
    store = PostgresEventStore(pool)
    teams = TeamRepository(store, secret_box(settings))
    resources = Resources(name, settings, pool, store, broker, stop, teams, hooks)
    wiring = await build(resources)

    # Step locks are leases in the pool's tables: no connection is held while a step runs.
    locks = PostgresStepLocks(pool, ttl_seconds=settings.step_lease_seconds)
    attempts = PostgresAttempts(pool)
    for step in wiring.steps:
        runner = StepRunner(
            step,
            resources.store,
            retry_policy(settings),
            locks=locks,
            attempts=attempts,
            max_event_bytes=settings.max_event_bytes,
            clock=hooks.clock or SystemClock(),
        )
        subscribe(broker, runner, settings, durable=consumer_name(step.name), stopping=stop)
    await broker.start()

    async def database_ready() -> bool:
        return await pool.fetchval("SELECT 1") == 1

    async def nats_ready() -> bool:
        return broker.connection.is_connected

    supervisor = Supervisor(stop)

    async def tasks_ready() -> bool:
        return supervisor.ready()

    app = add_health_routes(
        wiring.app or Starlette(),
        {"postgres": database_ready, "nats": nats_ready, "tasks": tasks_ready, **wiring.checks},
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None,
                       access_log=False, lifespan="on")
    )  # fmt: skip
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    for task in wiring.tasks:
        supervisor.start(getattr(task, "__qualname__", repr(task)), task)
    for step in wiring.steps:
        supervisor.start(f"resumer:{step.name}", _resumer(resources.store, step.name, hooks.clock))
    http = asyncio.create_task(server.serve())
    log.info("service started", http=f"http://{settings.http_host}:{settings.http_port}")
    try:
        await stop.wait()
    finally:
        log.info("service stopping")
        server.should_exit = True
        # Stops fetching, lets in-flight steps finish within the grace, then cancels the
        # rest, which give their messages back (nak) for another replica.
        await broker.stop()
        await supervisor.cancel()
        await asyncio.gather(http, return_exceptions=True)
        for hook in wiring.on_stop:
            await hook()
        await pool.close()
        provider.shutdown()


def _resumer(store: PostgresEventStore, step: str, clock: Clock | None) -> BackgroundTask:
    async def resumer(stop: asyncio.Event) -> None:
        await run_resumer(store, step, stop, clock)

    return resumer


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
