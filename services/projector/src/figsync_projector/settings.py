"""Settings of the projector service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic_settings import SettingsConfigDict

from figsync_runtime import RuntimeSettings


class ProjectorSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8001
    projector_batch_size: int = 500
    projector_poll_interval_seconds: float = 1.0
    projector_standby_interval_seconds: float = 1.0
    sse_keepalive_seconds: float = 15.0
