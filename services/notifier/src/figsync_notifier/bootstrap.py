"""Composition root of the notifier service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

from functools import partial

import httpx

from figsync_clients.budget import SharedBudgets
from figsync_clients.cache import SharedCache
from figsync_clients.figma import FigmaClient
from figsync_contracts import (
    AlertFailed,
    AlertSent,
    BudgetExceeded,
    CommentReacted,
    ConfirmationPosted,
    ConfirmationSkipped,
    JobFailed,
    LifecycleFailed,
    TaskCreated,
    TaskStatusChanged,
    ThreadNotified,
    ThreadResolved,
)
from figsync_notifier import lifecycle
from figsync_notifier.adapters.slack import SlackWebhook
from figsync_notifier.handlers import ALERTS_STEP, Alerter, Confirmer, alert, confirm
from figsync_notifier.ports import AlertChannel, FigmaComments, Teams
from figsync_notifier.settings import NotifierSettings
from figsync_runtime import Resources, Step, Wiring
from figsync_runtime.hooks import NO_HOOKS, Hooks
from figsync_runtime.teams import ensure_default_team


def confirmation_step(confirmer: Confirmer) -> Step:
    """TaskCreated → the reply in the Figma thread (ConfirmationPosted / ConfirmationSkipped)."""
    return Step(
        "notifier",
        consumes=[TaskCreated],
        produces=[ConfirmationPosted, ConfirmationSkipped],
        handle=partial(confirm, deps=confirmer),
    )


def alerts_step(alerter: Alerter) -> Step:
    """JobFailed / BudgetExceeded → a message in the team's Slack (AlertSent / AlertFailed).

    Separate from the confirmation: a Step's `produces` decide what "already done" means,
    and an alert must never end (or block) the job it is about."""
    return Step(
        ALERTS_STEP,
        consumes=[JobFailed, BudgetExceeded],
        produces=[AlertSent, AlertFailed],
        handle=partial(alert, deps=alerter),
        source="/services/notifier/alerts",
    )


def thread_sync_step(sync: lifecycle.ThreadSync) -> Step:
    """The thread in step with its task: reactions, and a reply when the task is done.
    Its own step (and consumer): it must never end or block the job."""
    return Step(
        lifecycle.STEP,
        consumes=[ThreadResolved, TaskCreated, JobFailed, TaskStatusChanged],
        produces=[CommentReacted, ThreadNotified, LifecycleFailed],
        handle=partial(lifecycle.sync_thread, deps=sync),
        source="/services/notifier/thread-sync",
    )


def steps(
    settings: NotifierSettings,
    teams: Teams,
    figma: FigmaComments,
    channel: AlertChannel,
    hooks: Hooks = NO_HOOKS,
) -> list[Step]:
    """The notifier's three steps, each with its own durable consumer (figsync-<name>)."""
    confirmer = Confirmer(figma, teams, after_reply=hooks.notifier_after_reply)
    alerter = Alerter(
        channel,
        teams,
        dashboard_url=settings.dashboard_url,
        attempts=max(1, min(settings.alert_attempts, settings.max_deliveries)),
    )
    sync = lifecycle.ThreadSync(figma, teams)
    return [confirmation_step(confirmer), alerts_step(alerter), thread_sync_step(sync)]


def slack_webhook(
    settings: NotifierSettings, http: httpx.AsyncClient, hooks: Hooks = NO_HOOKS
) -> SlackWebhook:
    return SlackWebhook(
        http,
        hosts=_split(settings.slack_webhook_hosts),
        insecure_hosts=hooks.insecure_hosts,
        timeout=settings.slack_timeout_seconds,
    )


async def build(resources: Resources) -> Wiring:
    """Wire the notifier: the Figma client, the Slack webhook, and its three steps."""
    settings = resources.settings
    assert isinstance(settings, NotifierSettings)
    await ensure_default_team(resources.teams)
    figma_http = httpx.AsyncClient(timeout=settings.figma_timeout_seconds)
    slack_http = httpx.AsyncClient(timeout=settings.slack_timeout_seconds, follow_redirects=False)
    # The same token budget as the figma service's reads, shared by every replica.
    figma = FigmaClient(
        figma_http, settings.figma_api_url, budgets=SharedBudgets(resources.pool),
        cache=SharedCache(resources.pool),
    )  # fmt: skip
    return Wiring(
        steps=steps(
            settings,
            resources.teams,
            figma,
            slack_webhook(settings, slack_http, resources.hooks),
            resources.hooks,
        ),
        on_stop=[figma_http.aclose, slack_http.aclose],
    )


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())
