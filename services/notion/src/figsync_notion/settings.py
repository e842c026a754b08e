"""Settings of the notion service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from figsync_runtime import RuntimeSettings


class NotionSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8013

    notion_api_url: str = "https://api.notion.com"
    # Notion's limit per integration token: an average of 3 requests per second with short
    # bursts; paced for every replica together.
    notion_requests_per_second: float = 3.0
    notion_burst: int = 3
    notion_timeout_seconds: float = 20.0
    # How long one attempt may wait out 429s before handing the job back to the runtime; keep
    # an attempt well inside FIGSYNC_ACK_WAIT_SECONDS so no other replica picks it up meanwhile.
    notion_wait_budget_seconds: float = 20.0
    notion_schema_ttl_seconds: float = 60.0
    # The workspace's users (for assignees) are read once per token this often, for every
    # replica together (Postgres shared_cache); 0 reads them for every task.
    notion_users_ttl_seconds: float = Field(default=300.0, ge=0)
    notion_breaker_threshold: int = 5
    notion_breaker_reset_seconds: float = 30.0
    notion_sync_property: str = "Figsync ID"
    notion_add_sync_property: bool = True
    # Task pages edited since the last poll are read this often, so a status change reaches
    # the thread even when no webhook arrives; 0 turns the poll off.
    notion_poll_interval_seconds: float = Field(default=60.0, ge=0)
