"""Composition root of the notifier service: builds its adapters and hands them to its handlers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial

import httpx

from figsync_clients.budget import SharedBudgets
from figsync_clients.cache import SharedCache
from figsync_clients.figma import FigmaClient
from figsync_contracts import (
    AlertFailed,
    AlertSent,
    BudgetExceeded,
    ConfirmationPosted,
    ConfirmationSkipped,
    JobFailed,
    TaskCreated,
)
from figsync_notifier.adapters.slack import SlackWebhook
from figsync_notifier.handlers import ALERTS_STEP, Alerter, Confirmer, alert, confirm
from figsync_notifier.ports import AlertChannel, FigmaComments, Teams
from figsync_notifier.settings import NotifierSettings
from figsync_runtime import Resources, Step, Wiring
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


def steps(
    settings: NotifierSettings, teams: Teams, figma: FigmaComments, channel: AlertChannel
) -> list[Step]:
    """The notifier's two steps, each with its own durable consumer (figsync-<name>)."""
    confirmer = Confirmer(figma, teams, after_reply=_hang_after_reply(settings))
    alerter = Alerter(
        channel,
        teams,
        dashboard_url=settings.dashboard_url,
        attempts=max(1, min(settings.alert_attempts, settings.max_deliveries)),
    )
    return [confirmation_step(confirmer), alerts_step(alerter)]


def slack_webhook(settings: NotifierSettings, http: httpx.AsyncClient) -> SlackWebhook:
    return SlackWebhook(
        http,
        hosts=_split(settings.slack_webhook_hosts),
        insecure_hosts=_split(settings.slack_test_insecure_hosts),
        timeout=settings.slack_timeout_seconds,
    )


async def build(resources: Resources) -> Wiring:
    """Wire the notifier: the Figma client, the Slack webhook, and the two steps."""
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
        steps=steps(settings, resources.teams, figma, slack_webhook(settings, slack_http)),
        on_stop=[figma_http.aclose, slack_http.aclose],
    )


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _hang_after_reply(settings: NotifierSettings) -> Callable[[], None]:
    marker = settings.notifier_test_hang_after_reply
    if not marker:
        return lambda: None

    def hang() -> None:
        # Blocks the whole process (not just this task) as a crash would freeze it: no ack,
        # no ConfirmationPosted; the test SIGKILLs it once the marker file exists.
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(3600)

    return hang
