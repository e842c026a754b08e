"""Settings of the projector service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from figsync_runtime.edge import EdgeSettings


class ProjectorSettings(EdgeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8001
    projector_batch_size: int = 500
    projector_poll_interval_seconds: float = 1.0
    projector_standby_interval_seconds: float = 1.0
    sse_keepalive_seconds: float = 15.0
    # How often each team's retention (its `retention_days`) is applied: expired jobs erased.
    retention_interval_seconds: float = Field(default=3600.0, gt=0)

    # API tokens live this many days unless issued with another lifetime (or, explicitly,
    # none); a rotated token keeps working this many hours so its users can switch.
    token_ttl_days: float = Field(default=90.0, gt=0, le=3660)
    token_rotation_grace_hours: float = Field(default=24.0, ge=0, le=720)
    # The read API's requests per minute per token, shared by every replica (0: unlimited),
    # and how many may come at once.
    api_requests_per_minute: float = Field(default=1200.0, ge=0)
    api_burst: int = Field(default=120, ge=1)

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
    # The summarizer's preview of a team's AI settings (its HTTP port).
    ai_preview_url: str | None = "http://127.0.0.1:8012"
    # The job page links its trace here: a tracing UI's page of one trace, with a `{trace_id}`
    # placeholder (Jaeger: http://localhost:16686/trace/{trace_id}). Unset: the id, no link.
    tracing_ui_url: str | None = None

    @field_validator("tracing_ui_url")
    @classmethod
    def _trace_link(cls, value: str | None) -> str | None:
        if value and ("{trace_id}" not in value or not value.startswith(("http://", "https://"))):
            raise ValueError(
                "FIGSYNC_TRACING_UI_URL must be an http(s) URL with a {trace_id} placeholder, "
                "such as http://localhost:16686/trace/{trace_id}"
            )
        return value or None
