"""Settings of the summarizer service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic_settings import SettingsConfigDict

from figsync_runtime import RuntimeSettings


class SummarizerSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8012
