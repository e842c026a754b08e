"""Composition root of the projector service: the live projection, its change feed, the API
and the dashboard."""

import hashlib
from datetime import timedelta

from figsync_clients.budget import SharedBudgets
from figsync_projector.access import Access
from figsync_projector.admin import NotionCheck
from figsync_projector.ai_preview import AiPreview
from figsync_projector.api import create_app
from figsync_projector.auth import Authenticator, TokenPolicy
from figsync_projector.erasure import Retention
from figsync_projector.feed import ChangeFeed
from figsync_projector.gauges import ViewGauges
from figsync_projector.projection import Projection, Projector
from figsync_projector.settings import ProjectorSettings
from figsync_projector.views import Views
from figsync_projector.web import Dashboard, mount_dashboard
from figsync_runtime import Resources, Wiring
from figsync_runtime.secrets import DEVELOPMENT_KEY


async def build(resources: Resources) -> Wiring:
    """Wire the projector: a background projector (one leader among replicas), the API and
    the dashboard."""
    settings = resources.settings
    if not isinstance(settings, ProjectorSettings):
        settings = ProjectorSettings.model_validate(settings.model_dump())
    database_url, _ = settings.require_urls()
    projector = Projector(
        # A crash test's hook may stop a batch written but not committed (none in production).
        Projection(
            resources.store,
            fault=lambda delta: resources.hooks.projector_in_batch(delta.last_position),
        ),
        database_url,
        batch_size=settings.projector_batch_size,
        poll_interval_seconds=settings.projector_poll_interval_seconds,
        standby_interval_seconds=settings.projector_standby_interval_seconds,
    )
    feed = ChangeFeed(database_url)
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else DEVELOPMENT_KEY
    auth = Authenticator(
        resources.pool,
        csrf_key=hashlib.sha256(f"figsync-csrf:{secret_key}".encode()).digest(),
        proxy_user_header=settings.auth_proxy_user_header,
        session_hours=settings.session_hours,
    )
    views = Views(resources.pool)
    notion_check = NotionCheck(settings.notion_check_url, secret_key)
    ai_preview = AiPreview(settings.ai_preview_url, secret_key)
    access = Access(
        trusted_hops=settings.trusted_proxy_hops,
        networks=tuple(settings.allowed_networks),
        per_minute=settings.api_requests_per_minute,
        burst=settings.api_burst,
        # Refused at once when spent (max_wait 0): an API client is told to come back.
        budgets=SharedBudgets(resources.pool, max_wait=0),
    )
    token_policy = TokenPolicy(
        ttl=timedelta(days=settings.token_ttl_days),
        grace=timedelta(hours=settings.token_rotation_grace_hours),
    )
    app = create_app(
        views,
        resources.store,
        feed,
        keepalive_seconds=settings.sse_keepalive_seconds,
        auth=auth,
        teams=resources.teams,
        notion_check=notion_check,
        ai_preview=ai_preview,
        access=access,
        token_policy=token_policy,
    )
    mount_dashboard(
        app,
        Dashboard(
            views=views,
            store=resources.store,
            feed=feed,
            auth=auth,
            teams=resources.teams,
            notion_check=notion_check,
            ai_preview=ai_preview,
            public_ingest_url=settings.public_ingest_url,
            cookie_secure=(
                settings.cookie_secure
                if settings.cookie_secure is not None
                else not settings.is_development
            ),
            keepalive_seconds=settings.sse_keepalive_seconds,
            tracing_ui_url=settings.tracing_ui_url,
            access=access,
            token_policy=token_policy,
        ),
    )
    gauges = ViewGauges(resources.pool, resources.teams)
    retention = Retention(resources.store, resources.teams, settings.retention_interval_seconds)
    return Wiring(app=app, tasks=[projector.run, feed.run, gauges.run, retention.run])
