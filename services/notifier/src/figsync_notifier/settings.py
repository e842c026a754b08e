"""Settings of the notifier service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic_settings import SettingsConfigDict

from figsync_clients.figma import FIGMA_API_URL
from figsync_runtime import RuntimeSettings


class NotifierSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8014
    figma_api_url: str = FIGMA_API_URL
    figma_timeout_seconds: float = 10
    dashboard_url: str = "http://127.0.0.1:8001"
    slack_timeout_seconds: float = 5
    # Tries per alert (redelivered with the runner's backoff), never more than max_deliveries.
    alert_attempts: int = 3
    # Hosts a team's Slack webhook URL may point at (comma-separated), always over https.
    slack_webhook_hosts: str = "hooks.slack.com"
