"""Settings of the ingest service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic_settings import SettingsConfigDict

from figsync_runtime.edge import EdgeSettings


class IngestSettings(EdgeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8000

    max_body_bytes: int = 2 * 1024 * 1024
    timestamp_tolerance_seconds: int = 300
    # Senders built on the seed design sign with `x-webhook-signature` (hex HMAC-SHA256 of the
    # body). It has no timestamp and no id, so replays cannot be told apart: off by default.
    legacy_signature_enabled: bool = False

    # Token buckets: requests per second and burst, per client address and per team; 0 = off.
    rate_per_source: float = 20.0
    rate_burst_per_source: int = 200
    rate_per_team: float = 50.0
    rate_burst_per_team: int = 500
    # trusted_proxy_hops and allowed_networks: EdgeSettings (figsync_runtime.edge).

    team_cache_seconds: float = 5.0
    delivery_id_retention_seconds: int = 3600
