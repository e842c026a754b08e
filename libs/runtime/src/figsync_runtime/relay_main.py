"""The relay as a process: `figsync relay` or `python -m figsync_runtime.relay_main`."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from figsync_eventstore.relay import Relay, RelaySettings
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
    )
    return Wiring(tasks=[relay.run])


def main() -> None:
    run("relay", load_settings(RelayProcessSettings), build)


if __name__ == "__main__":
    main()
