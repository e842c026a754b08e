"""The catalogue of codes a job can carry: what each means and what to do about it.

A code reaches a job as JobFailed.code, JobDeferred.code, JobIgnored.reason,
SummaryGenerated.fallback_reason or AlertFailed.code. `kind` says how figsync treats it:
`permanent` (the job fails at once, or the summary falls back at once: fix the cause, then
retry), `retryable` (tried again with growing delay, up to FIGSYNC_MAX_DELIVERIES),
`waiting` (waited out, never counted as an attempt; a long wait parks the job with
JobDeferred and it resumes by itself) or `ignored` (on purpose; nothing to fix).

tests/test_error_codes.py keeps it complete (every code the source can put on a job is here)
and current (nothing here that no code produces); docs/troubleshooting.md is rendered from it
(`make docs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from figsync_contracts.steps import STEP_SERVICES

KINDS = ("permanent", "retryable", "waiting", "ignored")


@dataclass(frozen=True)
class ErrorCode:
    """One stable code: what happened, what to do, and how figsync treats it."""

    code: str
    meaning: str
    action: str
    kind: str


@dataclass(frozen=True)
class Section:
    """Codes that belong together in the troubleshooting guide."""

    title: str
    intro: str
    codes: tuple[ErrorCode, ...]


_RETRY = "then retry the job (dashboard job page → Retry, or `figsync jobs retry JOB`)"

IGNORED = Section(
    "Ignored jobs",
    "A job that ends `ignored` (JobIgnored) did what it should: there is no task to create.",
    (
        ErrorCode(
            "not_comment_email",
            "The email is a Figma notification, but not about a comment (an invite, a digest, "
            "a file shared with you).",
            "Nothing to do. If real comment emails end up here, run `figsync parse-email FILE` "
            "on the message and report what it prints.",
            "ignored",
        ),
        ErrorCode(
            "mention_not_tracked",
            "The comment mentions nobody the team tracks (the detail lists who it mentions and "
            "what is tracked).",
            "If the person should count, add their handle exactly as Figma shows it (e.g. "
            "`@Anna Smith`) to Settings → Tracked mentions (FIGSYNC_TRACKED_MENTIONS for the "
            "default team); an empty list tracks every mention. Then ask for a manual sync of "
            "the file (Jobs → Manual sync).",
            "ignored",
        ),
        ErrorCode(
            "duplicate_comment",
            "Another job already holds this comment (the email and the Figma webhook for one "
            "comment, or a second notification); `duplicate_of` names that job.",
            "Nothing to do: the other job creates the one task.",
            "ignored",
        ),
        ErrorCode(
            "own_comment",
            "The comment was written by the Figma user whose token figsync uses, such as "
            "figsync's own confirmation reply.",
            "Nothing to do. If people write comments with that account too, give figsync a "
            "token of its own (a separate Figma user) in Settings → Secrets.",
            "ignored",
        ),
        ErrorCode(
            "thread_update",
            "The comment is a later comment in a thread that already has a task (a reply, "
            "with or without a tracked mention): it updated that task (`duplicate_of` names "
            "the job that owns it) instead of making a second one.",
            "Nothing to do: the owning job's page shows the update (TaskUpdated). Turn this off "
            "with the team setting thread_updates_enabled.",
            "ignored",
        ),
    ),
)

FIGMA = Section(
    "Figma",
    "Raised by the figma step (reading the email, the comment and its thread) and by the "
    "notifier when it replies in the thread.",
    (
        ErrorCode(
            "figma.unauthorized",
            "The team has no Figma token, or Figma refused it (401/403): revoked, expired, or "
            "without access to the file.",
            "Set a personal access token with the scopes `current_user:read`, `file_comments:read` "
            "and `file_comments:write`, from a user who can open the file, in Settings → "
            f"Secrets → Figma personal access token (FIGMA_API_TOKEN for the default team); {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "figma.file_not_found",
            "Figma has no file or comment at that address (404), or the token's user cannot see "
            "the file.",
            "Open the file in Figma as the token's user; share it with that user or use a token "
            f"that can see it; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "figma.file_key_not_found",
            "The email names no Figma file: the sender is not "
            "`comments-<FILEKEY>@email.figma.com` and no link in it led to a Figma file.",
            "Forward the original Figma message unchanged (keep its From address, or forward as "
            "an attachment/raw MIME), or use Figma webhooks instead of email for this file. "
            "`figsync parse-email FILE` shows what figsync reads.",
            "permanent",
        ),
        ErrorCode(
            "figma.unparseable_email",
            "The email body could not be read as a Figma notification (no HTML part, not "
            "text, too large, or malformed); the message says which.",
            "Check that the mail provider posts the HTML body or the raw message; run "
            "`figsync parse-email FILE` on a copy of the email to see the problem.",
            "permanent",
        ),
        ErrorCode(
            "figma.comment_not_found",
            "The comment is not in the file: it was deleted, or no comment matches the email's "
            "text closely enough (the job's context lists the closest candidates).",
            "If the comment still exists, compare it with the candidates; a heavily edited "
            "comment may need a lower FIGSYNC_MATCH_THRESHOLD (default 0.6) or a manual sync of "
            f"the file (Jobs → Manual sync); {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "figma.bad_request",
            "Figma refused the request as malformed (a 4xx other than 401, 403, 404 and 429).",
            "Read the job's message for Figma's answer; this usually means a figsync bug, so "
            "report it with the job id.",
            "permanent",
        ),
        ErrorCode(
            "figma.bad_response",
            "Figma answered with something that is not JSON (an outage page, a proxy in between).",
            "Nothing while it retries. If it keeps failing, check FIGSYNC_FIGMA_API_URL and any "
            f"proxy between figsync and api.figma.com; {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "figma.timeout",
            "Figma did not answer within FIGSYNC_FIGMA_TIMEOUT_SECONDS (10).",
            f"Nothing while it retries. If jobs fail with it, check status.figma.com; {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "figma.unreachable",
            "Figma could not be reached (DNS, connection refused or reset).",
            "Check the network path from the figma and notifier services to api.figma.com "
            f"(egress rules, proxy, FIGSYNC_FIGMA_API_URL); {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "figma.unavailable",
            "Figma answered with a server error (5xx).",
            f"Nothing while it retries. If jobs fail with it, check status.figma.com; {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "figma.circuit_open",
            "Figma calls with this token failed five times in a row, so every replica pauses "
            "them for 30 seconds before one trial call.",
            "Look for the failures before it (figma.timeout, figma.unavailable). It closes by "
            "itself once a call succeeds.",
            "retryable",
        ),
        ErrorCode(
            "figma.rate_limited",
            "Figma answered 429: the token's rate limit is reached; every replica waits the "
            "Retry-After.",
            "Nothing: the job waits. If it happens often, set the team's Figma plan and seat "
            "(Settings → Figma) to what the token's owner really has, or give a Dev or Full "
            "seat to that user.",
            "waiting",
        ),
        ErrorCode(
            "figma.budget_exhausted",
            "The token's Figma budget (Tier 2 calls per minute from the team's plan and seat, "
            "shared by every replica) is spoken for; the job waits for its turn.",
            "Nothing: the job waits and resumes. For more throughput, use a token whose owner "
            "has a Dev or Full seat and set Settings → Figma → Plan and Seat to match "
            "(FIGSYNC_FIGMA_PLAN / FIGSYNC_FIGMA_SEAT for the default team).",
            "waiting",
        ),
    ),
)

NOTION = Section(
    "Notion",
    "Raised by the notion step while it creates the task page. `figsync notion check --team T` "
    "(or Settings → Notion → Check with Notion) finds most of these before any job runs.",
    (
        ErrorCode(
            "notion.unauthorized",
            "The team has no Notion token, or Notion refused it (401).",
            "Create an internal integration at notion.so/my-integrations, copy its secret "
            "(`ntn_…`) into Settings → Secrets → Notion integration token (NOTION_API_KEY for "
            f"the default team), share the database with it; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.forbidden",
            "Notion refused the integration (403): it lacks a capability.",
            "In notion.so/my-integrations give the integration Read content, Insert content and "
            f"Update content; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.database_not_configured",
            "The team has no Notion database set.",
            "Set Settings → Notion → Database to the database's link or id (NOTION_DATABASE_ID "
            f"for the default team), run `figsync notion check --team T`; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.target_missing",
            "The job's first attempt chose a Notion target (by the team's routes) that has since "
            "been renamed or removed; a job's task goes to one target only, so the retry does not "
            "choose another.",
            "Add the target back under Settings → Notion → Targets (the same name and database), "
            f"{_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.database_not_shared",
            "The integration cannot see the database: it was never shared with it, the share "
            "was removed, or the id is wrong.",
            "In Notion open the database, ••• → Connections → add the integration (the message "
            "names it), or correct Settings → Notion → Database; run `figsync notion check "
            f"--team T`; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.ambiguous_database",
            "The database has several data sources (or none), so figsync cannot tell where "
            "tasks go.",
            "Set Settings → Notion → Database to the id of the data source tasks go to (the "
            f"message lists them); {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.property_missing",
            "A property the field mapping names does not exist in the database, or the sync "
            'property ("Figsync ID", FIGSYNC_NOTION_SYNC_PROPERTY) is missing and figsync may '
            "not add it.",
            "Add the property in Notion (the message names it and its type), or change Settings "
            "→ Notion → Field mapping; for the sync property add a Text property or set "
            f"FIGSYNC_NOTION_ADD_SYNC_PROPERTY=true; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.property_wrong_type",
            "A mapped property has a type that cannot hold its task field (a date in a "
            "checkbox), or the sync property is not a Text property.",
            "Change the property's type in Notion to one the message lists, or map it to "
            "another field (`Property =` with nothing after it leaves it out); "
            f"{_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.select_option_missing",
            "A status property has no option for the task's value; Notion's API cannot create "
            "status options.",
            "Add the option (the message names it) to the property in Notion, or map the field "
            f"to a select property instead; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.unknown_task_field",
            "The field mapping sends a task field that does not exist to a property.",
            "Fix Settings → Notion → Field mapping: use one of the fields the message lists "
            f"(title, summary, action_items, priority, category, status, figma_file_url, figma_thread_url, mentioned_user, author, created_at, …); {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.validation_error",
            "Notion refused the page as invalid (400) for a reason figsync does not recognise "
            "(often a property value Notion will not take).",
            "Read Notion's message on the job; run `figsync notion check --team T`; adjust the "
            f"database or the field mapping; {_RETRY}.",
            "permanent",
        ),
        ErrorCode(
            "notion.invalid_request",
            "Notion refused the request as unsupported (400 invalid_request).",
            "Read Notion's message on the job; this usually means a figsync bug or a Notion API "
            "change, so report it with the job id.",
            "permanent",
        ),
        ErrorCode(
            "notion.bad_request",
            "Notion refused the request without saying why.",
            "Read the message on the job and run `figsync notion check --team T`; report it "
            "with the job id if the check passes.",
            "permanent",
        ),
        ErrorCode(
            "notion.team_not_found",
            "The job belongs to a team that does not exist (deleted, or a typo in a "
            "team-specific inbound URL).",
            "Create the team (`figsync teams create NAME`) or fix the inbound URL; the job "
            "cannot be saved otherwise.",
            "permanent",
        ),
        ErrorCode(
            "notion.thread_missing",
            "The job has a summary but no resolved Figma thread: its history is inconsistent.",
            "Report it with the job id (`figsync status JOB` shows its timeline).",
            "permanent",
        ),
        ErrorCode(
            "notion.task_page_gone",
            "A thread update or a resolution in Figma could not reach the task page: it was "
            "deleted in Notion or is no longer shared with the integration.",
            "Restore the page (Notion's trash) or share its database again, then retry the job; "
            "if it was deleted on purpose, nothing to do.",
            "permanent",
        ),
        ErrorCode(
            "notion.task_pending",
            "A thread update came before the job's task page existed; it waits for the page.",
            "Nothing to do: the update goes to the page once it is created (if the job failed "
            "instead, a retry creates the page from the thread as it then is).",
            "waiting",
        ),
        ErrorCode(
            "notion.timeout",
            "Notion did not answer within FIGSYNC_NOTION_TIMEOUT_SECONDS (20).",
            f"Nothing while it retries. If jobs fail with it, check status.notion.so; {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "notion.unreachable",
            "Notion could not be reached (DNS, connection refused or reset).",
            "Check the network path from the notion service to api.notion.com (egress rules, "
            f"proxy, FIGSYNC_NOTION_API_URL); {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "notion.unavailable",
            "Notion answered with a server error or a conflict (409, 5xx).",
            f"Nothing while it retries. If jobs fail with it, check status.notion.so; {_RETRY}.",
            "retryable",
        ),
        ErrorCode(
            "notion.overloaded",
            "Notion answered 529: it is overloaded.",
            f"Nothing while it retries; {_RETRY} if the job failed.",
            "retryable",
        ),
        ErrorCode(
            "notion.circuit_open",
            "Notion calls with this token failed five times in a row, so every replica pauses "
            "them for 30 seconds before one trial call.",
            "Look for the failures before it (notion.timeout, notion.unavailable). It closes by "
            "itself once a call succeeds.",
            "retryable",
        ),
        ErrorCode(
            "notion.rate_limited",
            "Notion answered 429 for longer than FIGSYNC_NOTION_WAIT_BUDGET_SECONDS (20).",
            "Nothing: the job waits. If it happens often, another program shares the "
            "integration's token: give figsync an integration of its own.",
            "waiting",
        ),
        ErrorCode(
            "notion.budget_exhausted",
            "The integration's Notion budget (FIGSYNC_NOTION_REQUESTS_PER_SECOND, 3 per second "
            "for every replica) is spoken for; the job waits for its turn.",
            "Nothing: the job waits and resumes. Notion allows about 3 requests per second per "
            "integration; a busy team can use an integration of its own.",
            "waiting",
        ),
    ),
)

SUMMARIES = Section(
    "AI summaries",
    "The summarizer never fails a job over the model: these codes are SummaryGenerated's "
    "`fallback_reason`, and the task is created with a plain summary built from the thread "
    "(source `fallback`). Those marked waiting or retryable are tried again first.",
    (
        ErrorCode(
            "ai_disabled",
            "AI summaries are turned off for the team.",
            "Nothing, unless you want them: Settings → AI summaries → Summarize with AI.",
            "ignored",
        ),
        ErrorCode(
            "budget_exceeded",
            "The team's monthly AI budget (Settings → AI summaries → Monthly budget) is spent; summaries "
            "fall back until the month ends (a Slack alert says so once).",
            "Raise or clear the budget in Settings → AI summaries; later jobs use the model again.",
            "permanent",
        ),
        ErrorCode(
            "invalid_output",
            "The model's answer did not fit the summary's shape twice in a row (the second "
            "time after a corrective request).",
            "Nothing for this job. If it is frequent, check FIGSYNC_AI_MODEL and "
            "FIGSYNC_AI_MAX_TOKENS (answers cut off at max_tokens are invalid), and the team's "
            "instructions (Settings → AI summaries → Instructions; Preview shows what they do).",
            "permanent",
        ),
        ErrorCode(
            "anthropic.no_api_key",
            "Neither the team nor the default team has an Anthropic API key.",
            "Set Settings → Secrets → Anthropic API key (ANTHROPIC_API_KEY for the default "
            "team), or turn AI off for the team.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.unauthorized",
            "Anthropic refused the API key (401).",
            "Create a key in the Anthropic console and set it in Settings → Secrets → "
            "Anthropic API key.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.payment_required",
            "The Anthropic account needs billing attention (402).",
            "Add credit or fix billing in the Anthropic console.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.forbidden",
            "The key may not use this model or resource (403).",
            "Use a key of a workspace that may use the model, or choose another model in "
            "Settings → AI summaries → Model.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.model_not_found",
            "The model does not exist for this key (404).",
            "Fix Settings → AI summaries → Model (or FIGSYNC_AI_MODEL), e.g. `claude-sonnet-4-5`.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.request_too_large",
            "The thread is too large for one request (413).",
            "Nothing: the task gets the fallback summary.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.bad_request",
            "Anthropic refused the request as invalid (400), e.g. a setting the model does not "
            "support.",
            "Check FIGSYNC_AI_MODEL and FIGSYNC_AI_MAX_TOKENS; report it with the job id if "
            "they are right.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.rejected",
            "Anthropic refused the request with a status figsync has no name for.",
            "Read the message on the job; report it with the job id.",
            "permanent",
        ),
        ErrorCode(
            "anthropic.timeout",
            "The Messages API did not answer in time (or answered 408/504).",
            "Nothing: it is retried, and the last allowed attempt (FIGSYNC_AI_ATTEMPTS) falls "
            "back.",
            "retryable",
        ),
        ErrorCode(
            "anthropic.unreachable",
            "The Messages API could not be reached.",
            "Check the network path from the summarizer to api.anthropic.com "
            "(FIGSYNC_ANTHROPIC_API_URL, egress rules).",
            "retryable",
        ),
        ErrorCode(
            "anthropic.server_error",
            "The Messages API answered with a server error or a conflict (409, 5xx).",
            "Nothing: it is retried, then falls back.",
            "retryable",
        ),
        ErrorCode(
            "anthropic.overloaded",
            "The Messages API is overloaded (529).",
            "Nothing: it is retried, then falls back.",
            "retryable",
        ),
        ErrorCode(
            "anthropic.circuit_open",
            "Calls with this key failed five times in a row; every replica pauses them for 30 "
            "seconds and summaries fall back meanwhile.",
            "Look for the failures before it (anthropic.timeout, anthropic.server_error). It "
            "closes by itself once a call succeeds.",
            "retryable",
        ),
        ErrorCode(
            "anthropic.rate_limited",
            "Anthropic answered 429, or its rate-limit headers say the key's minute is used "
            "up; every replica waits. A Retry-After of FIGSYNC_AI_FALLBACK_RETRY_AFTER_SECONDS "
            "(120) or more falls back at once.",
            "Nothing: the job waits. If frequent, lower FIGSYNC_ANTHROPIC_REQUESTS_PER_MINUTE "
            "to the key's real limit or raise the account's tier.",
            "waiting",
        ),
        ErrorCode(
            "anthropic.budget_exhausted",
            "The key's request budget (FIGSYNC_ANTHROPIC_REQUESTS_PER_MINUTE, 50, for every "
            "replica) is spoken for; the job waits for its turn.",
            "Nothing: the job waits and resumes. Raise the setting if the key's real limit is "
            "higher.",
            "waiting",
        ),
    ),
)

ALERTS = Section(
    "Slack alerts",
    "The alerts step posts failed jobs and spent budgets to the team's Slack. Its failures "
    "never touch the job: they are recorded as AlertFailed on it.",
    (
        ErrorCode(
            "slack.webhook_not_allowed",
            "The team's Slack webhook URL is not an https URL on an allowed host "
            "(FIGSYNC_SLACK_WEBHOOK_HOSTS, default hooks.slack.com).",
            "Set Settings → Secrets → Slack incoming webhook URL to the "
            "`https://hooks.slack.com/services/…` URL Slack gave you.",
            "permanent",
        ),
        ErrorCode(
            "slack.webhook_revoked",
            "Slack refused the webhook (403, 404 or 410): the app, the webhook or the channel "
            "is gone.",
            "Create a new incoming webhook in Slack and set it in Settings → Secrets.",
            "permanent",
        ),
        ErrorCode(
            "slack.bad_request",
            "Slack refused the message (another 4xx).",
            "Read Slack's answer in the message; report it if the webhook works otherwise.",
            "permanent",
        ),
        ErrorCode(
            "slack.timeout",
            "Slack did not answer in time.",
            "Nothing: the alert is tried FIGSYNC_ALERT_ATTEMPTS (3) times.",
            "retryable",
        ),
        ErrorCode(
            "slack.unreachable",
            "Slack could not be reached.",
            "Check the network path from the notifier to hooks.slack.com.",
            "retryable",
        ),
        ErrorCode(
            "slack.unavailable",
            "Slack answered 429 or a server error.",
            "Nothing: the alert is tried FIGSYNC_ALERT_ATTEMPTS (3) times.",
            "retryable",
        ),
        ErrorCode(
            "alerts.unexpected_error",
            "Sending an alert raised an unexpected error; it is tried again and then given up "
            "(logged).",
            "Look for 'alert could not be sent' in the notifier's logs and report it.",
            "retryable",
        ),
    ),
)

PLATFORM = Section(
    "figsync itself",
    "The store, the transport and the steps' own checks.",
    (
        ErrorCode(
            "store.unavailable",
            "Postgres could not be reached during the step (a restart, a failover).",
            "Nothing: the job waits, without counting attempts, until Postgres is back. If it "
            "lasts, check FIGSYNC_DATABASE_URL and the database.",
            "waiting",
        ),
        ErrorCode(
            "store.conflict",
            "Another replica appended to the job at the same time; the step looks again.",
            "Nothing: it is redelivered at once and never fails the job.",
            "waiting",
        ),
        ErrorCode(
            "event.too_large",
            "An event the step produced is larger than FIGSYNC_MAX_EVENT_BYTES (900 000, "
            "lowered to fit NATS max_payload).",
            "Raise NATS `max_payload` and FIGSYNC_MAX_EVENT_BYTES if this thread is legitimately "
            f"huge; {_RETRY}. Otherwise report it with the job id.",
            "permanent",
        ),
        ErrorCode(
            "relay.event_too_large",
            "The relay could not publish an event of the job: it is over the NATS server's "
            "max_payload. It was parked so later events flow.",
            "Raise the NATS server's `max_payload`, then `figsync relay redrive --position N` "
            "(`figsync relay parked` lists them).",
            "permanent",
        ),
        ErrorCode(
            "relay.stream_refused",
            "JetStream refused the event every time (the stream's limits, a missing stream).",
            "Check the FIGSYNC stream (`nats stream info FIGSYNC`), fix its limits, then "
            "`figsync relay redrive --position N`.",
            "permanent",
        ),
        ErrorCode(
            "relay.not_an_envelope",
            "A stored event could not be turned into a message (its row is not a valid envelope).",
            "Report it with the position `figsync relay parked` shows; do not redrive it "
            "before the cause is known.",
            "permanent",
        ),
        ErrorCode(
            "summarizer.coalescing",
            "A thread update waits a few seconds (FIGSYNC_THREAD_UPDATE_COALESCE_SECONDS) for "
            "more replies, so several replies make one summary refresh.",
            "Nothing to do.",
            "waiting",
        ),
        ErrorCode(
            "summarizer.thread_missing",
            "A thread update reached a job that has no resolved thread: its history is "
            "inconsistent.",
            "Report it with the job id (`figsync status JOB` shows its timeline).",
            "permanent",
        ),
        ErrorCode(
            "summarizer.unexpected_input",
            "The summarizer was handed an event that is not a resolved thread.",
            "Report it with the job id.",
            "permanent",
        ),
        ErrorCode(
            "notifier.thread_unknown",
            "The job has a task but no resolved Figma thread to reply to.",
            "Report it with the job id (`figsync status JOB` shows its timeline).",
            "permanent",
        ),
        *(
            ErrorCode(
                f"{step}.unexpected_error",
                f"The {step} step raised an error figsync does not classify (a bug, or an "
                "outside failure it does not know); it was retried FIGSYNC_MAX_DELIVERIES times.",
                f"Look for 'step raised an unexpected error' with the job id in the {service} "
                f"service's logs; report it; {_RETRY}.",
                "retryable",
            )
            for step, service in STEP_SERVICES.items()
            if step != "alerts"  # the alerts step catches its own errors (ALERTS above)
        ),
    ),
)

SECTIONS: tuple[Section, ...] = (IGNORED, FIGMA, NOTION, SUMMARIES, ALERTS, PLATFORM)

CATALOGUE: Mapping[str, ErrorCode] = MappingProxyType(
    {entry.code: entry for section in SECTIONS for entry in section.codes}
)


def describe(code: str) -> ErrorCode | None:
    """The catalogue's entry for a code, or None for a code it does not know."""
    return CATALOGUE.get(code)
