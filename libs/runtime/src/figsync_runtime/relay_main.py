"""The relay as a process: `figsync relay` or `python -m figsync_runtime.relay_main`."""

from __future__ import annotations

from prometheus_client import Gauge
from pydantic_settings import SettingsConfigDict

from figsync_eventstore.relay import Relay, RelaySettings
from figsync_runtime.metrics import RELAYED
from figsync_runtime.service import Resources, Wiring, run
from figsync_runtime.settings import RuntimeSettings, load_settings


class RelayProcessSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="FIGSYNC_", extra="ignore")

    http_port: int = 8015
    relay_batch_size: int = 256
    relay_poll_interval_seconds: float = 1.0


async def build(resources: Resources) -> Wiring:
    settings = resources.settings
    assert isinstance(settings, RelayProcessSettings)
    database_url, nats_url = settings.require_urls()
    relay = Relay(
        database_url,
        nats_url,
        stream=settings.stream(),
        settings=RelaySettings(
            batch_size=settings.relay_batch_size,
            poll_interval_seconds=settings.relay_poll_interval_seconds,
        ),
        after_publish=resources.hooks.relay_after_publish,
    )
    _export_metrics(relay)

    async def relay_ready() -> bool:
        return relay.ready()

    return Wiring(tasks=[relay.run], checks={"relay": relay_ready})


LAG = Gauge("figsync_relay_lag_events", "Store position minus published position.")
PARKED = Gauge("figsync_relay_parked_events", "Events parked as unpublishable, not re-driven.")
LEADER = Gauge("figsync_relay_is_leader", "1 while this relay publishes, 0 on standby.")


def _export_metrics(relay: Relay) -> None:
    LAG.set_function(lambda: relay.lag)
    PARKED.set_function(lambda: relay.parked)
    LEADER.set_function(lambda: int(relay.is_leader))
    counted = 0

    async def count_published(_: int) -> None:
        nonlocal counted
        RELAYED.inc(relay.published - counted)
        counted = relay.published

    relay.on_published = count_published


def main() -> None:
    run("relay", load_settings(RelayProcessSettings), build)


if __name__ == "__main__":
    main()
