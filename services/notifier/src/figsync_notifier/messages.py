"""The Slack alerts' text: concise, with a link to the job in the dashboard."""

from __future__ import annotations

from figsync_contracts import BudgetExceeded, JobFailed

MAX_ERROR_CHARS = 300


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters, escaped as Slack asks (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def job_url(dashboard_url: str, team: str, job_id: str) -> str:
    return f"{dashboard_url.rstrip('/')}/t/{team}/jobs/{job_id}"


def failure_message(
    failed: JobFailed, *, team: str, job_id: str, dashboard_url: str, file_name: str = ""
) -> str:
    """`:x: figsync job failed at step notion (notion.unauthorized, 5 attempts) …`"""
    attempts = f", {failed.attempts} attempt{'s' if failed.attempts != 1 else ''}"
    error = failed.message.strip()
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1].rstrip() + "…"
    where = f" on “{slack_escape(file_name)}”" if file_name else ""
    lines = [
        f":x: figsync job failed{where} at step *{slack_escape(failed.step)}* "
        f"(`{slack_escape(failed.code)}`{attempts}) in team {slack_escape(team)}",
    ]
    if error:
        lines.append(f"> {slack_escape(error)}")
    lines.append(f"<{job_url(dashboard_url, team, job_id)}|Open job {job_id}>")
    return "\n".join(lines)


def budget_message(exceeded: BudgetExceeded, *, team: str, job_id: str, dashboard_url: str) -> str:
    """`:money_with_wings: figsync AI budget spent in team … summaries fall back …`"""
    base = dashboard_url.rstrip("/")
    link = (
        f"<{job_url(dashboard_url, team, job_id)}|Open job {job_id}>"
        if job_id and ":" not in job_id  # job ids are UUIDs; other streams are prefixed
        else f"<{base}/t/{team}/|Open team {slack_escape(team)}>"
    )
    return (
        f":money_with_wings: figsync AI budget spent in team {slack_escape(team)} for "
        f"{slack_escape(exceeded.month)}: ${exceeded.spent_usd:.2f} of ${exceeded.budget_usd:.2f}. "
        "Summaries (step *summarizer*) use the fallback until next month or a higher budget.\n"
        + link
    )
