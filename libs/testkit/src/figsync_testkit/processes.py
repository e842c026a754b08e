"""Run figsync processes in tests: start with an environment, wait for health, kill, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from figsync_testkit.embedded import free_port


class ServiceProcess:
    """A figsync process (`python -m MODULE`) with its own HTTP port and log file."""

    def __init__(self, module: str, env: dict[str, str], log_dir: Path, name: str | None = None):
        self.module = module
        self.name = name or module.split(".")[0]
        self.port = free_port()
        self.env = {**os.environ, **env, "FIGSYNC_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{self.name}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> ServiceProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            # Through the test kit's runner: it installs the hooks FIGSYNC_TESTKIT_* ask for.
            [sys.executable, "-m", "figsync_testkit.run", self.module], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.logs()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready in {timeout}s:\n{self.logs()[-4000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait for a clean exit."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode if self.process else None
