"""Alerts to a team's Slack about failed jobs and spent budgets: sent once, never failing the job."""

from decimal import Decimal

import httpx
import pytest
from notifier_support import append, seed_task_created, teams

from figsync_contracts import AlertFailed, AlertSent, BudgetExceeded, JobDeferred, JobFailed
from figsync_notifier.adapters.slack import SlackWebhook
from figsync_notifier.bootstrap import alerts_step
from figsync_notifier.handlers import Alerter
from figsync_runtime import StepRunner
from figsync_runtime.steps import Ack, Redeliver, RetryPolicy

pytestmark = pytest.mark.integration

DASHBOARD = "https://figsync.example.com"


@pytest.fixture
async def wire(event_store, slack):
    """The alerts step as bootstrap builds it, posting to the fake Slack."""
    repo = teams(event_store)
    await repo.change("default", {"name": "Default"}, secrets={"slack_webhook_url": slack.url})
    async with httpx.AsyncClient() as http:
        channel = SlackWebhook(http, insecure_hosts=frozenset({slack.netloc}), timeout=0.5)
        step = alerts_step(Alerter(channel, repo, dashboard_url=DASHBOARD, attempts=3))
        yield StepRunner(step, event_store, RetryPolicy(base_delay=0.01)), repo


async def fail_job(store, team="default", message="Notion refused the token"):
    task = await seed_task_created(store, team=team)
    failed = JobFailed(step="notion", code="notion.unauthorized", message=message, attempts=5)
    return await append(store, task.subject, failed, team, task)


async def test_a_failed_job_is_posted_to_slack_with_job_step_code_and_dashboard_link(
    wire, event_store, slack
):
    runner, _ = wire
    failed = await fail_job(event_store, message="Notion refused the token <b>&</b>")
    assert await runner.process(failed, attempt=1) == Ack("handled")

    [text] = slack.texts
    job = failed.subject
    assert text == (
        ":x: figsync job failed on “Onboarding Flow” at step *notion* "
        "(`notion.unauthorized`, 5 attempts) in team default\n"
        "> Notion refused the token &lt;b&gt;&amp;&lt;/b&gt;\n"
        f"<{DASHBOARD}/t/default/jobs/{job}|Open job {job}>"
    )
    history = await event_store.read_stream(job)
    assert [e.data for e in history if e.type == AlertSent.type] == [
        {"channel": "slack", "about": JobFailed.type, "attempts": 1}
    ]


async def test_a_redelivered_job_failure_is_not_posted_twice(wire, event_store, slack):
    runner, _ = wire
    failed = await fail_job(event_store)
    assert await runner.process(failed, attempt=1) == Ack("handled")
    assert await runner.process(failed, attempt=2) == Ack("already done")
    assert len(slack.received) == 1


async def test_a_spent_budget_is_posted_with_amounts_and_a_link(wire, event_store, slack):
    runner, _ = wire
    task = await seed_task_created(event_store)
    exceeded = BudgetExceeded(month="2026-01", budget_usd=Decimal("20"), spent_usd=Decimal("20.4"))
    # As the summarizer records it: once per team and month, on the month's budget stream.
    envelope = await append(event_store, "budget:default:2026-01", exceeded, "default", task)
    assert await runner.process(envelope, attempt=1) == Ack("handled")
    assert await runner.process(envelope, attempt=2) == Ack("already done")
    [text] = slack.texts
    assert "AI budget spent in team default for 2026-01: $20.40 of $20.00" in text
    assert text.endswith(f"<{DASHBOARD}/t/default/jobs/{task.subject}|Open job {task.subject}>")


async def test_without_a_webhook_nothing_is_posted_or_recorded(wire, event_store, slack):
    runner, _ = wire
    failed = await fail_job(event_store, team="quiet")
    assert await runner.process(failed, attempt=1) == Ack("handled")
    assert slack.received == []
    history = await event_store.read_stream(failed.subject)
    assert history[-1].type == JobFailed.type


@pytest.mark.parametrize("mode, code", [("error", "slack.unavailable"), ("hang", "slack.timeout")])
async def test_slack_down_is_retried_then_recorded_and_leaves_the_job_as_it_was(
    wire, event_store, slack, mode, code
):
    runner, _ = wire
    slack.mode = mode
    failed = await fail_job(event_store)
    before = await event_store.read_stream(failed.subject)

    for attempt in (1, 2):
        decision = await runner.process(failed, attempt=attempt)
        assert isinstance(decision, Redeliver) and decision.code == code
        assert await event_store.read_stream(failed.subject) == before
    assert await runner.process(failed, attempt=3) == Ack("handled")
    assert await runner.process(failed, attempt=4) == Ack("already done")

    history = await event_store.read_stream(failed.subject)
    assert history[: len(before)] == before
    [recorded] = history[len(before) :]
    assert recorded.type == AlertFailed.type
    assert (recorded.data["code"], recorded.data["attempts"]) == (code, 3)
    assert not [e for e in history if e.type == JobFailed.type and e.data["step"] == "alerts"]
    assert JobDeferred.type not in [e.type for e in history]
    assert slack.texts == []


async def test_a_webhook_url_outside_the_allowed_hosts_is_never_called(wire, event_store, slack):
    runner, repo = wire
    await repo.change("default", {}, secrets={"slack_webhook_url": "http://169.254.169.254/x"})
    failed = await fail_job(event_store)
    assert await runner.process(failed, attempt=1) == Ack("handled")
    history = await event_store.read_stream(failed.subject)
    assert history[-1].type == AlertFailed.type
    assert history[-1].data["code"] == "slack.webhook_not_allowed"
    assert "169.254" not in history[-1].data["message"]
    assert slack.received == []
