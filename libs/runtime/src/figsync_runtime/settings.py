"""Typed settings shared by every service: defaults, then the environment, then arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from figsync_eventstore.jetstream import StreamSettings

S = TypeVar("S", bound=BaseSettings)


class RuntimeSettings(BaseSettings):
    """What every figsync process reads from FIGSYNC_* variables (or files in secrets_dir)."""

    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    nats_url: str | None = None
    secret_key: SecretStr | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    trace_console: bool = False

    stream_name: str = "FIGSYNC"
    stream_replicas: int = 1
    stream_duplicate_window_seconds: float = 900.0
    stream_max_age_seconds: float = 7 * 24 * 3600.0

    max_deliveries: int = 5
    retry_base_delay_seconds: float = 1.0
    retry_max_delay_seconds: float = 60.0
    ack_wait_seconds: float = 60.0
    max_ack_pending: int = 1000
    pull_batch_size: int = 16
    # Messages one replica handles at once. Fetching goes on while they run, so a message
    # that arrives during a slow call (Claude takes seconds) starts at once instead of
    # waiting for the whole previous batch to finish.
    consumer_max_workers: int = 16
    defer_threshold_seconds: float = 600.0

    # Postgres connections this process opens at most (see docs/deploy.md for the budget of
    # a whole layout). Step locks are leases in a table, so they need none of their own.
    db_pool_max_size: int = 4
    # The largest event (as published) a process appends. NATS refuses messages over its
    # max_payload (1 MiB by default), so larger ones are refused where they are made: a 413
    # at the ingest, JobFailed event.too_large in a step. Lowered to fit the server's limit.
    max_event_bytes: int = 900_000
    # A step's lease lives this long unless renewed (every third of it while the step runs);
    # a holder killed mid-step frees it after at most this long.
    step_lease_seconds: float = 15.0
    # On SIGTERM: stop fetching, let in-flight steps finish this long, then give the rest
    # back (nak). Well under Kubernetes' default 30 s terminationGracePeriodSeconds.
    shutdown_grace_seconds: float = 10.0

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def stream(self) -> StreamSettings:
        return StreamSettings(
            name=self.stream_name,
            replicas=self.stream_replicas,
            duplicate_window_seconds=self.stream_duplicate_window_seconds,
            max_age_seconds=self.stream_max_age_seconds,
        )

    def require_urls(self) -> tuple[str, str]:
        missing = [
            name
            for name, value in (
                ("FIGSYNC_DATABASE_URL", self.database_url),
                ("FIGSYNC_NATS_URL", self.nats_url),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                f"settings.missing: set {' and '.join(missing)} "
                "(`figsync dev` starts embedded servers and sets them for you)"
            )
        return self.database_url, self.nats_url  # type: ignore[return-value]


class SettingsError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment, reading secret files from FIGSYNC_SECRETS_DIR
    (default /run/secrets/figsync when it exists); explicit overrides win."""
    secrets_dir = os.environ.get("FIGSYNC_SECRETS_DIR") or "/run/secrets/figsync"
    if Path(secrets_dir).is_dir():
        return cls(_secrets_dir=secrets_dir, **overrides)  # type: ignore[call-arg]
    return cls(**overrides)  # type: ignore[arg-type]
