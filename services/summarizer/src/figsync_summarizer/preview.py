"""The dashboard's preview of a team's AI settings: the summary its model would write, now.

POST /internal/summarizer/preview {"team", "preview_id", "requested_by", "job_id"?, "draft"?}
runs the summarize step's own path — the team's settings with the draft's AI settings over
them, the prompt in its fixed frame, the model the thread's size picks, the team's key, the
shared rate budget and breaker, the validation and the fallback — on a sample thread or on a
job's thread as it now stands. The cache is neither read nor written. Only figsync services may
call it (an HMAC of the purpose under FIGSYNC_SECRET_KEY); the projector's admin-only API and
Settings page do.

What the model calls cost is a SummaryPreviewed on `summary-preview:<team>:<preview id>`, which
the monthly spend sums with the summaries: a preview counts against the budget, and a preview
id is paid for once (a repeat is refused before any call; two at once append one event).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from figsync_clients.resilience import CircuitOpen
from figsync_contracts import (
    SummaryPreviewed,
    ThreadComment,
    ThreadResolved,
    ThreadUpdated,
    new_envelope,
    summary_preview_stream_id,
)
from figsync_eventstore import Appended, EventStore
from figsync_runtime import WaitError
from figsync_runtime.internal import HEADER, SUMMARY_PREVIEW, is_internal
from figsync_runtime.teams import TEAM_ID, TeamSettings
from figsync_runtime.tracing import current_traceparent
from figsync_summarizer.adapters.anthropic_api import ModelRejected, ModelUnavailable
from figsync_summarizer.handlers import (
    SOURCE,
    Attempted,
    Summarize,
    choose_model,
    is_simple,
    month_bounds,
)
from figsync_summarizer.summary import (
    FALLBACK_VERSION,
    PROMPT_VERSION,
    Summary,
    build_prompt,
    fallback_summary,
    system_prompt,
    thread_size,
)

log = structlog.get_logger("figsync.summarizer.preview")

# The AI settings a preview may try before they are saved.
DRAFT_FIELDS = frozenset({"ai_instructions", "ai_model", "ai_simple_model", "ai_simple_max_chars"})

SAMPLE_THREAD = ThreadResolved(
    file_key="SAMPLEFILE0000000000000",
    file_name="Checkout redesign (sample)",
    file_url="https://www.figma.com/design/SAMPLEFILE0000000000000",
    comment_id="sample-2",
    root_comment_id="sample-1",
    author="Sam",
    text="On it. I'll swap the card form today and check the error states too.",
    mentions=["@Sam"],
    thread=[
        ThreadComment(
            comment_id="sample-1",
            author="Alex",
            text="@Sam the payment step still shows the old card form. Can you swap in the new "
            "PaymentCard component before Friday's release? The spacing under the order total "
            "looks off as well.",
        ),
        ThreadComment(
            comment_id="sample-2",
            author="Sam",
            text="On it. I'll swap the card form today and check the error states too.",
        ),
    ],
)


class PreviewRefused(Exception):
    """A preview that cannot run: an HTTP status, a stable code, what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


class PreviewRequest(BaseModel):
    """What the projector asks for."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(pattern=TEAM_ID.pattern)
    preview_id: uuid.UUID
    requested_by: str = Field(default="", max_length=200)
    job_id: str | None = Field(default=None, min_length=1, max_length=200)
    draft: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Previews:
    """Runs previews over the summarize handler's own ports."""

    summarize: Summarize
    store: EventStore

    async def run(self, request: PreviewRequest) -> dict[str, Any]:
        team_id = request.team
        saved = await self.summarize.teams.get(team_id)
        if saved is None:
            raise PreviewRefused(404, "team.not_found", f"no team {team_id!r}")
        team = _with_draft(saved, request.draft)
        thread = await self._thread(team_id, request.job_id) if request.job_id else SAMPLE_THREAD
        preview_id = str(request.preview_id)
        stream = summary_preview_stream_id(team_id, preview_id)
        if await self.store.read_stream(stream):
            raise PreviewRefused(409, "preview.repeated", f"preview {preview_id} has run already"
                                 " (and was paid for); ask for a new one")  # fmt: skip

        settings = self.summarize.settings
        model = choose_model(settings, team, thread)
        most = team.max_tasks_per_thread
        system, prompt = system_prompt(team.ai_instructions, most), build_prompt(thread)
        month, start, end = month_bounds(datetime.now(UTC))
        budget = team.ai_monthly_budget_usd
        spent = await self.summarize.spend.spent(team_id, start, end)
        attempted: Attempted | None = None
        reason: str | None = None
        api_key = await self.summarize.api_key(team_id)
        if not team.ai_enabled:
            reason = "ai_disabled"
        elif api_key is None:
            reason = "anthropic.no_api_key"
        elif budget is not None and spent >= budget:
            reason = "budget_exceeded"
        else:
            try:
                attempted = await self.summarize.ask_model(api_key, model, system, prompt, most)
            except (CircuitOpen, ModelUnavailable, ModelRejected, WaitError) as error:
                reason = error.code
            else:
                reason = None if attempted.summary is not None else "invalid_output"
        summary: Summary = (
            attempted.summary if attempted and attempted.summary else fallback_summary(thread)
        )
        cost = attempted.cost if attempted else Decimal("0")
        if attempted is not None:
            await self._record(request, stream, model, attempted, reason)
            if budget is not None and spent + cost >= budget:
                await self.summarize.budget_exceeded(team_id, None, month, budget, spent + cost)
        return {
            "preview_id": preview_id,
            "thread": {
                "kind": "job" if request.job_id else "sample",
                "job_id": request.job_id,
                "file_name": thread.file_name,
                "comments": [c.model_dump(include={"author", "text"}) for c in thread.thread],
                "size": thread_size(thread),
            },
            "model": model,
            "simple_model": is_simple(settings, team, thread),
            "instructions": team.ai_instructions is not None,
            "summary": summary.model_dump(),
            "source": "fallback" if reason else "ai",
            "fallback_reason": reason,
            "prompt_version": FALLBACK_VERSION if reason else PROMPT_VERSION,
            "input_tokens": attempted.input_tokens if attempted else 0,
            "output_tokens": attempted.output_tokens if attempted else 0,
            "cost_usd": str(cost),
            "spent_this_month_usd": str(spent + cost),
            "budget_usd": str(budget) if budget is not None else None,
        }

    async def _thread(self, team: str, job_id: str) -> ThreadResolved:
        """The job's thread as it now stands: the last ThreadResolved, with the thread of a
        later ThreadUpdated."""
        history = await self.store.read_stream(job_id) if ":" not in job_id else []
        if not history or history[0].metadata.get("team") != team:
            raise PreviewRefused(404, "job.not_found", f"no job {job_id!r} in team {team!r}")
        resolved = [e for e in history if e.type == ThreadResolved.type]
        if not resolved:
            raise PreviewRefused(404, "preview.no_thread", f"job {job_id!r} has no thread yet "
                                 "(figsync has not read it from Figma); try another job")  # fmt: skip
        thread = ThreadResolved.model_validate(resolved[-1].data)
        updates = [e for e in history if e.type == ThreadUpdated.type
                   and e.position > resolved[-1].position]  # fmt: skip
        if updates:
            thread = thread.model_copy(update={"thread": ThreadUpdated.model_validate(
                updates[-1].data).thread})  # fmt: skip
        return thread

    async def _record(
        self,
        request: PreviewRequest,
        stream: str,
        model: str,
        attempted: Attempted,
        reason: str | None,
    ) -> None:
        event = SummaryPreviewed(
            preview_id=str(request.preview_id),
            thread=request.job_id or "sample",
            model=model,
            prompt_version=PROMPT_VERSION,
            input_tokens=attempted.input_tokens,
            output_tokens=attempted.output_tokens,
            cost_usd=attempted.cost,
            source="fallback" if reason else "ai",
            fallback_reason=reason,
            draft=bool(request.draft),
            requested_by=request.requested_by,
        )
        envelope = new_envelope(event, stream_id=stream, team=request.team, source=SOURCE,
                                traceparent=current_traceparent())  # fmt: skip
        outcome = await self.store.append(stream, [envelope], expected_version=0)
        if not isinstance(outcome, Appended):
            # The same preview id ran twice at once: one cost is recorded, as for one call.
            log.warning("a preview ran twice at once; its cost is counted once",
                        preview_id=str(request.preview_id))  # fmt: skip


def _with_draft(saved: TeamSettings, draft: dict[str, Any]) -> TeamSettings:
    unknown = set(draft) - DRAFT_FIELDS
    if unknown:
        raise PreviewRefused(422, "preview.bad_draft", f"cannot try {', '.join(sorted(unknown))}"
                             f" (only {', '.join(sorted(DRAFT_FIELDS))})")  # fmt: skip
    try:
        return TeamSettings.model_validate({**saved.model_dump(), **draft})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise PreviewRefused(422, "preview.bad_draft", problems) from None


def preview_app(previews: Previews, secret_key: str) -> Starlette:
    """The internal preview route, for the summarizer's HTTP server."""

    async def run(request: Request) -> JSONResponse:
        if not is_internal(request.headers.get(HEADER), secret_key, SUMMARY_PREVIEW):
            return _error(403, "auth.internal_only", "only figsync services may run a preview")
        try:
            body = PreviewRequest.model_validate(json.loads(await request.body()))
        except (ValueError, ValidationError) as error:
            return _error(422, "request.invalid", f"bad preview request ({str(error)[:300]})")
        try:
            return JSONResponse(await previews.run(body))
        except PreviewRefused as refused:
            return _error(refused.status, refused.code, refused.message)

    return Starlette(routes=[Route("/internal/summarizer/preview", run, methods=["POST"])])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
