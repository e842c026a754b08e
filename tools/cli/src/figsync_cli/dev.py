"""`make dev`: embedded NATS and Postgres, the sandbox APIs, the relay and every service as
separate processes with prefixed logs. Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from figsync_cli.jobs import DEV_EMAIL_WEBHOOK_SECRET
from figsync_sandbox.fixtures import figma_mention_email

SERVICES = [
    # name, module, port variable, default port
    ("relay", "figsync_runtime.relay_main", "FIGSYNC_RELAY_PORT", 8015),
    ("ingest", "figsync_ingest.main", "FIGSYNC_INGEST_PORT", 8000),
    ("figma", "figsync_figma.main", "FIGSYNC_FIGMA_PORT", 8011),
    ("summarizer", "figsync_summarizer.main", "FIGSYNC_SUMMARIZER_PORT", 8012),
    ("notion", "figsync_notion.main", "FIGSYNC_NOTION_PORT", 8013),
    ("notifier", "figsync_notifier.main", "FIGSYNC_NOTIFIER_PORT", 8014),
    ("projector", "figsync_projector.main", "FIGSYNC_PROJECTOR_PORT", 8001),
]
# `FIGSYNC_DEV_REPLICAS=N`: N of each consumer service and two relays (one leads, one stands
# by); ingest and projector own the well-known ports and stay single. Replica i (from 2)
# listens on its service's port + 100·(i-1): figma#2 on 8111.
REPLICATED = {"figma", "summarizer", "notion", "notifier"}
MAX_RELAYS = 2
MAX_REPLICAS = 8
REPLICA_PORT_STEP = 100
SANDBOX_PORTS = {
    "FIGSYNC_SANDBOX_FIGMA_PORT": 8101,
    "FIGSYNC_SANDBOX_NOTION_PORT": 8102,
    "FIGSYNC_SANDBOX_ANTHROPIC_PORT": 8103,
}


@dataclass
class Child:
    name: str
    process: subprocess.Popen


@dataclass(frozen=True)
class Instance:
    """One process of a service: `figma`, or replica `figma#2` on the port + `offset`."""

    name: str
    module: str
    variable: str
    default: int
    offset: int = 0


def _replicas(env: dict[str, str]) -> int:
    raw = env.get("FIGSYNC_DEV_REPLICAS", "").strip() or "1"
    replicas = int(raw) if raw.isdecimal() else 0
    if not 1 <= replicas <= MAX_REPLICAS:
        raise SystemExit(
            f"dev.bad_replicas: FIGSYNC_DEV_REPLICAS={raw!r} must be a whole number from 1 to "
            f"{MAX_REPLICAS} (how many of each consumer service make dev starts; default 1)"
        )
    return replicas


def _count(name: str, replicas: int) -> int:
    if name == "relay":
        return min(replicas, MAX_RELAYS)
    return replicas if name in REPLICATED else 1


def _instances(replicas: int) -> list[list[Instance]]:
    """Every service's processes, one group per service, in start order."""
    return [
        [
            Instance(
                f"{name}#{i}" if i > 1 else name,
                module,
                variable,
                default,
                REPLICA_PORT_STEP * (i - 1),
            )  # fmt: skip
            for i in range(1, _count(name, replicas) + 1)
        ]
        for name, module, variable, default in SERVICES
    ]


def _port(env: dict[str, str], variable: str, default: int, offset: int = 0) -> int:
    port = int(env.get(variable, default)) + offset
    moved = f" ({variable} + {offset})" if offset else ""
    with socket.socket() as probe:
        # As the servers bind: a previous run's connections in TIME_WAIT don't make the port
        # look taken (without this, every quick restart after traffic failed for a minute).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except (OSError, OverflowError):
            raise SystemExit(
                f"dev.port_in_use: port {port}{moved} is taken; set {variable} to a free port"
            ) from None
    return port


def _pump(name: str, stream, width: int) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"{name:<{width}} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def _start(name: str, argv: list[str], env: dict[str, str], width: int) -> Child:
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    threading.Thread(target=_pump, args=(name, process.stdout, width), daemon=True).start()
    return Child(name, process)


def _start_service(instance: Instance, env: dict[str, str], width: int) -> tuple[Child, int]:
    port = _port(env, instance.variable, instance.default, instance.offset)
    child_env = {**env, "FIGSYNC_HTTP_PORT": str(port)}
    return _start(instance.name, [sys.executable, "-m", instance.module], child_env, width), port


def _start_services(
    env: dict[str, str], children: list[Child], width: int, replicas: int, token: str
) -> list[str]:
    """Start each service's replicas together, await them ready before the next service;
    returns the lines saying where each listens."""
    lines = []
    for group in _instances(replicas):
        started = []
        for instance in group:
            child, port = _start_service(instance, env, width)
            children.append(child)
            started.append((child, port))
        for child, port in started:
            _wait_ready(f"http://127.0.0.1:{port}/readyz", child)
            if child.name == "projector":
                lines.append(f"dashboard: http://127.0.0.1:{port} (sign in with {token})")
            else:
                lines.append(f"{child.name}: http://127.0.0.1:{port}")
    return lines


def _wait_ready(url: str, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise SystemExit(f"dev.start_failed: {child.name} exited ({child.process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"dev.start_failed: {child.name} not ready at {url} in {timeout}s")


def run_dev(send_fixture: bool = False) -> int:
    from figsync_eventstore import migrate
    from figsync_testkit.embedded import EmbeddedNats, EmbeddedPostgres

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FIGSYNC_LOG_FORMAT": "console"}
    replicas = _replicas(env)
    env.setdefault("FIGSYNC_ENVIRONMENT", "development")
    env.setdefault("FIGSYNC_TRACKED_MENTIONS", "@testfigma,@Anna Smith")
    children: list[Child] = []
    postgres = nats = None
    width = max(10, *(len(i.name) for group in _instances(replicas) for i in group))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    lines: list[str] = []
    try:
        if not env.get("FIGSYNC_DATABASE_URL"):
            port = int(env.get("FIGSYNC_DEV_POSTGRES_PORT", 0)) or None
            postgres = EmbeddedPostgres(port=port).start()
            env["FIGSYNC_DATABASE_URL"] = postgres.url
        if not env.get("FIGSYNC_NATS_URL"):
            port = int(env.get("FIGSYNC_DEV_NATS_PORT", 0)) or None
            nats = EmbeddedNats(port=port).start()
            env["FIGSYNC_NATS_URL"] = nats.url
        lines += [f"postgres: {env['FIGSYNC_DATABASE_URL']}", f"nats: {env['FIGSYNC_NATS_URL']}"]
        asyncio.run(migrate(env["FIGSYNC_DATABASE_URL"]))

        sandboxed = sandboxed_providers(env)
        for api in PROVIDERS:
            if api not in sandboxed:
                url = env.get(f"FIGSYNC_{api.upper()}_API_URL") or "its production API"
                lines.append(f"{api}: {url} (token from the environment)")
        if sandboxed and importlib.util.find_spec("figsync_sandbox.cli"):
            _sandbox_credentials(env, sandboxed)
            ports = {var: _port(env, var, default) for var, default in SANDBOX_PORTS.items()}
            env.update({var: str(port) for var, port in ports.items()})
            sandbox = _start("sandbox", [sys.executable, "-m", "figsync_sandbox"], env, width)
            children.append(sandbox)
            for api in sandboxed:
                url = f"http://127.0.0.1:{ports[f'FIGSYNC_SANDBOX_{api.upper()}_PORT']}"
                env[f"FIGSYNC_{api.upper()}_API_URL"] = url
                lines.append(f"sandbox {api}: {url}")
            _wait_ready(f"http://127.0.0.1:{ports['FIGSYNC_SANDBOX_FIGMA_PORT']}/_sandbox/health",
                        sandbox)  # fmt: skip
        if "figma" in sandboxed:
            _seed_fixture_comment(f"http://127.0.0.1:{ports['FIGSYNC_SANDBOX_FIGMA_PORT']}")
        token = asyncio.run(_ensure_default_team(env))

        lines += _start_services(env, children, width, replicas, token)
        if replicas > 1:
            relays = _count("relay", replicas)
            lines.append(f"replicas: {replicas} of each consumer service, {relays} relays")

        print("\nfigsync is running — Ctrl-C stops everything", flush=True)
        for line in lines:
            print(f"  {line}", flush=True)
        email = figma_mention_email()
        if email.exists() and "figma" in sandboxed:
            ingest = f"http://127.0.0.1:{env.get('FIGSYNC_INGEST_PORT', 8000)}"
            print(
                "\nSend the real Figma email (signed) and watch it become a Notion task and a "
                f"Figma reply:\n  .venv/bin/figsync send-email {_shown(email)} --ingest {ingest} "
                f"--sender comments-{FIXTURE_FILE_KEY}@email.figma.com\n"
                f"then: FIGSYNC_API_TOKEN={token} .venv/bin/figsync status <job id> "
                f"--api http://127.0.0.1:{env.get('FIGSYNC_PROJECTOR_PORT', 8001)}\n",
                flush=True,
            )
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    print(f"dev: {child.name} exited with {child.process.returncode}", flush=True)
                    stopping = True
            time.sleep(0.3)
        return 0
    finally:
        for child in reversed(children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.process.wait(15)
            except subprocess.TimeoutExpired:
                child.process.kill()
        if nats:
            nats.close()
        if postgres:
            postgres.close()
        print("dev: stopped", flush=True)


PROVIDERS = {
    "figma": ("FIGMA_API_TOKEN", "figma_token"),
    "notion": ("NOTION_API_KEY", "notion_token"),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic_key"),
}


def sandboxed_providers(env: dict[str, str]) -> list[str]:
    """The providers the sandbox stands in for: those with neither a token nor a URL set."""
    return [
        api
        for api, (token_var, _) in PROVIDERS.items()
        if not env.get(token_var) and not env.get(f"FIGSYNC_{api.upper()}_API_URL")
    ]


def _sandbox_credentials(env: dict[str, str], sandboxed: list[str]) -> None:
    """Providers without a real token use the sandbox and its (fake) credentials; a real
    token is never sent to the sandbox, and the sandbox never stands in for it."""
    from figsync_sandbox.notion import TASKS_DATABASE_ID
    from figsync_sandbox.servers import SandboxConfig

    defaults = SandboxConfig()
    for api in sandboxed:
        token_var, field = PROVIDERS[api]
        env[token_var] = getattr(defaults, field)
    if "notion" in sandboxed:
        env["NOTION_DATABASE_ID"] = TASKS_DATABASE_ID
    env.setdefault("FIGSYNC_EMAIL_WEBHOOK_SECRET", DEV_EMAIL_WEBHOOK_SECRET)
    env.setdefault("FIGSYNC_FIGMA_WEBHOOK_PASSCODE", defaults.figma_webhook_passcode)
    ingest = int(env.get("FIGSYNC_INGEST_PORT", 8000))
    env.setdefault(
        "FIGSYNC_SANDBOX_FIGMA_WEBHOOK_URL", f"http://127.0.0.1:{ingest}/v1/inbound/figma"
    )
    env.setdefault("FIGSYNC_SANDBOX_FIGMA_WEBHOOK_PASSCODE", env["FIGSYNC_FIGMA_WEBHOOK_PASSCODE"])


def _shown(path: Path) -> str:
    """A path as the reader would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


FIXTURE_FILE_KEY = "UntitledFixtureFile0001"


def _seed_fixture_comment(figma_url: str) -> None:
    """The sandbox gets the file and comment of the real fixture email ("@testfigma this is
    task 2" by Maarten in "Untitled"), so `figsync send-email` on it completes the loop."""
    with httpx.Client(base_url=figma_url, timeout=5) as http:
        http.post("/_sandbox/files", json={"key": FIXTURE_FILE_KEY, "name": "Untitled"})
        http.post(
            f"/_sandbox/files/{FIXTURE_FILE_KEY}/comments",
            # No webhook for the seed: the email is what the newcomer sends.
            json={"message": "@testfigma this is task 2", "author": "Maarten", "emit": False},
        ).raise_for_status()


async def _ensure_default_team(env: dict[str, str]) -> str:
    """Create the default team from the environment; returns a fresh admin token for it."""
    from figsync_eventstore import PostgresEventStore, create_pool
    from figsync_projector.auth import issue_token
    from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
    from figsync_runtime.teams import TeamRepository, ensure_default_team

    pool = await create_pool(env["FIGSYNC_DATABASE_URL"])
    try:
        key = env.get("FIGSYNC_SECRET_KEY") or DEVELOPMENT_KEY
        await ensure_default_team(TeamRepository(PostgresEventStore(pool), SecretBox(key)), env)
        return (await issue_token(pool, "default", "admin", name="make dev")).token
    finally:
        await pool.close()
