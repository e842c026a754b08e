"""Prometheus metrics every service exposes on /metrics."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "figsync_messages_total",
    "Messages handled by a step, by outcome.",
    ["step", "outcome"],
)
STEP_SECONDS = Histogram(
    "figsync_step_duration_seconds",
    "Time a step spent on one message.",
    ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EXTERNAL_CALLS = Counter(
    "figsync_external_calls_total",
    "Calls to outside APIs, by provider and outcome.",
    ["provider", "outcome"],
)
RELAYED = Counter("figsync_relay_published_total", "Events the relay published to JetStream.")
# Per credential (`credential_key`: a hash, never the secret), from figsync_clients.budget.
BUDGET_CALLS = Counter(
    "figsync_budget_calls_total",
    "Calls an outside API's shared rate budget let through, by provider and credential.",
    ["provider", "credential"],
)
BUDGET_CALLS_PER_SECOND = Gauge(
    "figsync_budget_calls_per_second",
    "Calls per second the credential's rate budget allows (its pace, 95 % of Figma's limit).",
    ["provider", "credential"],
)
CIRCUIT_OPEN = Counter(
    "figsync_circuit_open_total",
    "Calls refused because the credential's circuit breaker was open, by provider.",
    ["provider"],
)
