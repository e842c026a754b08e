"""Settings of the figma service (FIGSYNC_* variables, secrets_dir supported)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from figsync_clients.figma import FIGMA_API_URL
from figsync_runtime import RuntimeSettings


class FigmaSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8011
    figma_api_url: str = FIGMA_API_URL
    # Jobs on one file within this many seconds share one comments read, across replicas.
    comments_cache_seconds: float = 30.0
    figma_timeout_seconds: float = 10
    # Every tracked file is read this often for what Figma never sends (resolved threads,
    # lost emails); 0 turns reconcile off.
    reconcile_interval_seconds: float = Field(default=300.0, ge=0)
    # A tracked mention becomes a job by reconcile only once it is this old: its email or
    # webhook may still be on the way (then that job takes it).
    reconcile_grace_seconds: float = Field(default=600.0, ge=0)
    match_threshold: float = 0.6
    link_max_hops: int = 5
    link_timeout_seconds: float = 3
