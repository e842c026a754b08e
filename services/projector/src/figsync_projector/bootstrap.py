"""Composition root of the projector service: the live projection, its change feed, the API."""

from figsync_projector.api import create_app
from figsync_projector.feed import ChangeFeed
from figsync_projector.projection import Projection, Projector
from figsync_projector.settings import ProjectorSettings
from figsync_projector.views import Views
from figsync_runtime import Resources, Wiring


async def build(resources: Resources) -> Wiring:
    """Wire the projector: a background projector (one leader among replicas) and the API."""
    settings = resources.settings
    if not isinstance(settings, ProjectorSettings):
        settings = ProjectorSettings.model_validate(settings.model_dump())
    database_url, _ = settings.require_urls()
    projector = Projector(
        Projection(resources.store),
        database_url,
        batch_size=settings.projector_batch_size,
        poll_interval_seconds=settings.projector_poll_interval_seconds,
        standby_interval_seconds=settings.projector_standby_interval_seconds,
    )
    feed = ChangeFeed(database_url)
    app = create_app(
        Views(resources.pool),
        resources.store,
        feed,
        keepalive_seconds=settings.sse_keepalive_seconds,
    )
    return Wiring(app=app, tasks=[projector.run, feed.run])
