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

    # The dashboard: sessions opened with an API token last this long; the cookie is Secure
    # outside development (set False only when the dashboard is served over plain HTTP).
    session_hours: float = 12.0
    cookie_secure: bool | None = None
    # SSO: trust this request header (e.g. X-Forwarded-User) as the signed-in user. Only set
    # it when every request reaches the projector through a proxy that sets or strips it.
    auth_proxy_user_header: str | None = None
    # Shown on the Inbound setup page: where providers reach the ingest service.
    public_ingest_url: str = "http://127.0.0.1:8000"
    # The notion service's check of a database and mapping (its HTTP port).
    notion_check_url: str | None = "http://127.0.0.1:8013"
