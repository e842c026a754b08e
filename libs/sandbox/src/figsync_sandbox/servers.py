"""Run the three sandbox servers: in a background thread (tests) or in the current loop (CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import uvicorn
from fastapi import FastAPI

from figsync_sandbox import anthropic_api, figma, notion
from figsync_sandbox.control import ServerState

ENV_PREFIX = "FIGSYNC_SANDBOX_"


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever runs the sandbox."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class SandboxConfig:
    """Ports, credentials and limits; defaults, then FIGSYNC_SANDBOX_* env, then arguments."""

    host: str = "127.0.0.1"
    figma_port: int = 0
    notion_port: int = 0
    anthropic_port: int = 0
    seed: int = 0
    figma_token: str = figma.DEFAULT_FIGMA_TOKEN
    notion_token: str = notion.DEFAULT_NOTION_TOKEN
    anthropic_key: str = anthropic_api.DEFAULT_ANTHROPIC_KEY
    figma_webhook_url: str | None = None
    figma_webhook_passcode: str = "sandbox-passcode"
    figma_tier2_per_minute: int = 25
    notion_rate_per_second: float = 3.0
    notion_burst: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SandboxConfig:
        """Build from FIGSYNC_SANDBOX_<FIELD> variables (e.g. FIGSYNC_SANDBOX_FIGMA_PORT)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls(), f.name))
            try:
                values[f.name] = kind(raw) if kind in (int, float) else raw
            except ValueError as exc:
                raise ValueError(
                    f"sandbox.bad_env: {ENV_PREFIX}{f.name.upper()}={raw!r} is not a {kind.__name__}"
                ) from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Sandbox:
    """The Figma, Notion and Anthropic sandboxes, their URLs, credentials and state.

    `with Sandbox() as sb:` serves them in a background thread with its own event loop;
    `await Sandbox().serve()` serves them in the running loop until cancelled.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        cfg = self.config
        self.figma = figma.FigmaState(
            tokens={cfg.figma_token: figma.BOT_USER_ID},
            seed=cfg.seed,
            tier2_per_minute=cfg.figma_tier2_per_minute,
            webhook_url=cfg.figma_webhook_url,
            webhook_passcode=cfg.figma_webhook_passcode,
        )
        self.notion = notion.NotionState(
            tokens=[cfg.notion_token],
            seed=cfg.seed,
            rate_per_second=cfg.notion_rate_per_second,
            burst=cfg.notion_burst,
        )
        self.anthropic = anthropic_api.AnthropicState(api_keys=[cfg.anthropic_key], seed=cfg.seed)
        self._apps: dict[str, FastAPI] = {
            "figma": figma.create_app(self.figma),
            "notion": notion.create_app(self.notion),
            "anthropic": anthropic_api.create_app(self.anthropic),
        }
        self._ports = {
            "figma": cfg.figma_port,
            "notion": cfg.notion_port,
            "anthropic": cfg.anthropic_port,
        }
        self._sockets: dict[str, socket.socket] = {}
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- addresses and credentials ----------------------------------------------------
    @property
    def states(self) -> dict[str, ServerState]:
        return {"figma": self.figma, "notion": self.notion, "anthropic": self.anthropic}

    def url(self, name: str) -> str:
        """Base URL of one server ("figma", "notion" or "anthropic")."""
        if name not in self._sockets:
            raise RuntimeError("sandbox.not_started: call start() or serve() first")
        port = self._sockets[name].getsockname()[1]
        return f"http://{self.config.host}:{port}"

    @property
    def figma_url(self) -> str:
        return self.url("figma")

    @property
    def notion_url(self) -> str:
        return self.url("notion")

    @property
    def anthropic_url(self) -> str:
        return self.url("anthropic")

    @property
    def figma_token(self) -> str:
        return self.config.figma_token

    @property
    def notion_token(self) -> str:
        return self.config.notion_token

    @property
    def anthropic_key(self) -> str:
        return self.config.anthropic_key

    def env(self) -> dict[str, str]:
        """Environment variables that point figsync's services at this sandbox."""
        return {
            "FIGSYNC_FIGMA_API_URL": self.figma_url,
            "FIGSYNC_NOTION_API_URL": self.notion_url,
            "FIGSYNC_ANTHROPIC_API_URL": self.anthropic_url,
            # The names the default team is created from (figsync_runtime.teams).
            "FIGMA_API_TOKEN": self.figma_token,
            "NOTION_API_KEY": self.notion_token,
            "ANTHROPIC_API_KEY": self.anthropic_key,
            "NOTION_DATABASE_ID": notion.TASKS_DATABASE_ID,
        }

    def reset(self, seed: int | None = None) -> None:
        """Restore all three servers' default data, drop faults, forget requests."""
        for state in self.states.values():
            state.reset(seed)

    # -- running ----------------------------------------------------------------------
    def _bind(self) -> None:
        for name, port in self._ports.items():
            if name in self._sockets:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.config.host, port))
            except OSError as exc:
                sock.close()
                raise OSError(
                    f"sandbox.port_in_use: {name} cannot bind port {port}: {exc}"
                ) from exc
            sock.listen(128)
            sock.set_inheritable(True)
            self._sockets[name] = sock

    async def serve(self) -> None:
        """Serve all three servers in the running event loop until cancelled or stopped."""
        self._bind()
        loop = asyncio.get_running_loop()
        for state in self.states.values():
            state.loop = loop
        self._servers = []
        for app in self._apps.values():
            config = uvicorn.Config(
                app,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=1,
                access_log=False,
            )
            self._servers.append(_QuietServer(config))
        await asyncio.gather(
            *(
                server.serve(sockets=[self._sockets[name]])
                for server, name in zip(self._servers, self._apps, strict=True)
            )
        )

    def start(self, timeout: float = 10.0) -> Sandbox:
        """Serve in a background thread with its own event loop; return when listening."""
        if self._thread is not None:
            return self
        self._bind()

        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # surfaced by start()/stop()
                self._error = exc

        self._thread = threading.Thread(target=run, name="figsync-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"sandbox.start_failed: {self._error}") from self._error
            if len(self._servers) == 3 and all(s.started for s in self._servers):
                return self
            time.sleep(0.01)
        raise TimeoutError("sandbox.start_timeout: servers did not start in time")

    def request_stop(self) -> None:
        """Ask the servers to finish (safe from signal handlers); serve() then returns."""
        for server in self._servers:
            server.should_exit = True

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
