"""Settings of the summarizer service (FIGSYNC_* variables, secrets_dir supported)."""

from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from figsync_runtime import RuntimeSettings

DEFAULT_MODEL = "claude-haiku-5-5"


class ModelPrice(BaseModel):
    """USD per million tokens; prompts above `long_context_tokens` pay the long-context rates."""

    input: Decimal
    output: Decimal
    long_context_tokens: int | None = None
    long_input: Decimal | None = None
    long_output: Decimal | None = None


# Anthropic's list prices (USD per million tokens). A dated id ("claude-haiku-4-5-20251001")
# is priced by the longest entry it starts with; override with FIGSYNC_AI_PRICES (JSON).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-haiku-5-5": ModelPrice(
        input=Decimal("0.10"),
        output=Decimal("0.50"),
        long_context_tokens=100_000,
        long_input=Decimal("0.50"),
        long_output=Decimal("2.50"),
    ),
    "claude-haiku-4-5": ModelPrice(input=Decimal("1"), output=Decimal("5")),
    "claude-sonnet-5": ModelPrice(input=Decimal("2"), output=Decimal("10")),
    "claude-sonnet-4-6": ModelPrice(input=Decimal("3"), output=Decimal("15")),
    "claude-opus-5": ModelPrice(input=Decimal("5"), output=Decimal("25")),
}


class SummarizerSettings(RuntimeSettings):
    """The summarizer's settings: the Anthropic API, the model, retries, prices and the cache."""

    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore", populate_by_name=True)

    http_port: int = 8012

    anthropic_api_url: str = "https://api.anthropic.com"
    # Used when neither the team nor the default team has an `anthropic_api_key` secret.
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FIGSYNC_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )
    ai_model: str = Field(
        default=DEFAULT_MODEL, validation_alias=AliasChoices("FIGSYNC_AI_MODEL", "AI_MODEL")
    )
    # The cheaper model for small threads: a thread of at most ai_simple_max_chars characters
    # (what its participants wrote) goes to ai_simple_model, the rest to the team's model.
    # A team's own ai_simple_model / ai_simple_max_chars win; 0 turns it off.
    ai_simple_model: str = DEFAULT_MODEL
    ai_simple_max_chars: int = Field(default=0, ge=0)
    ai_max_tokens: int = Field(default=1024, ge=1)
    # The corrective retry after a reply cut off by max_tokens gets this much room.
    ai_retry_max_tokens: int = Field(default=2048, ge=1)
    # Forced tool use is refused while thinking is on; models that think by default (Haiku 5.5)
    # need it off. "omit" sends nothing, for a model that refuses {"type": "disabled"}.
    ai_thinking: Literal["disabled", "omit"] = "disabled"
    ai_timeout_seconds: float = 15.0
    # HTTP retries inside one delivery (the SDK's own, with backoff). Deliveries that try the
    # model: the last of them falls back instead of failing, so a summary never blocks a task.
    ai_sdk_max_retries: int = Field(default=2, ge=0)
    ai_attempts: int = Field(default=3, ge=1)
    # Replies to a tracked thread within this many seconds share one summary refresh.
    thread_update_coalesce_seconds: float = Field(default=5.0, ge=0)
    # A Retry-After longer than this is not slept inside the SDK: the delivery is retried by the
    # runtime instead; one longer than ai_fallback_retry_after_seconds falls back at once.
    ai_sdk_max_retry_after_seconds: float = 5.0
    ai_fallback_retry_after_seconds: float = 120.0
    ai_prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    # The key's requests per minute (your Anthropic tier's RPM), paced for every replica
    # together; the API's rate-limit headers and 429s tighten it further when needed.
    anthropic_requests_per_minute: float = 50.0
    circuit_failure_threshold: int = 5
    circuit_reset_seconds: float = 30.0

    summary_cache_ttl_seconds: float = 3600.0
    summary_cache_purge_interval_seconds: float = 600.0

    def longest_delivery_seconds(self) -> float:
        """About the longest one delivery can spend in the SDK: every try timing out, and the
        waits between them. Above the consumer's ack wait, NATS would redeliver meanwhile."""
        backoffs = (min(0.5 * 2**i, 8.0) for i in range(self.ai_sdk_max_retries))  # the SDK's
        waits = sum(max(self.ai_sdk_max_retry_after_seconds, b) for b in backoffs)
        return (self.ai_sdk_max_retries + 1) * self.ai_timeout_seconds + waits
