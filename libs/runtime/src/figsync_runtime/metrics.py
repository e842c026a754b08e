"""Prometheus metrics every service exposes on /metrics."""

from prometheus_client import Counter, Histogram

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
