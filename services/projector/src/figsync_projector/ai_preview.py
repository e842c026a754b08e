"""The preview of a team's AI settings, run by the summarizer (its internal route): the summary
the team's model would write for a sample thread or a recent job's thread, with unsaved
instructions or models if given — priced, and counted against the team's monthly budget."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from figsync_projector.admin import AiDraft
from figsync_projector.errors import HttpError
from figsync_runtime.internal import HEADER, SUMMARY_PREVIEW, internal_token


class AiPreviewRequest(BaseModel):
    """What to preview: which thread, and which unsaved AI settings to try."""

    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="a job of the team whose thread to summarise; omitted: a sample thread",
    )
    preview_id: uuid.UUID | None = Field(
        default=None,
        description="an idempotency key: one preview id runs, and is paid for, once (a repeat "
        "is 409 preview.repeated); omitted: a new one",
    )
    draft: AiDraft = Field(
        default_factory=AiDraft, description="AI settings to try instead of the saved ones"
    )


class PreviewSummary(BaseModel):
    title: str
    summary: str
    action_items: list[str]
    priority: str
    category: str


class PreviewComment(BaseModel):
    author: str
    text: str


class PreviewThread(BaseModel):
    kind: str = Field(description="sample or job")
    job_id: str | None
    file_name: str
    comments: list[PreviewComment]
    size: int = Field(description="characters the participants wrote (what picks the model)")


class AiPreviewReport(BaseModel):
    """The summary as a task would get it now, and what finding out cost."""

    preview_id: str
    thread: PreviewThread
    model: str
    simple_model: bool = Field(description="the thread is small: the cheaper model wrote it")
    instructions: bool = Field(description="the team's instructions (saved or draft) were used")
    summary: PreviewSummary
    source: str = Field(description="ai, or fallback (with fallback_reason)")
    fallback_reason: str | None
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: str
    spent_this_month_usd: str = Field(description="the team's AI spend this month, this included")
    budget_usd: str | None


class AiPreview:
    """Asks the summarizer for a preview (an HMAC of the purpose under FIGSYNC_SECRET_KEY)."""

    def __init__(
        self,
        url: str | None,
        secret_key: str,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.token = internal_token(secret_key, SUMMARY_PREVIEW)
        self.timeout = timeout
        self.transport = transport

    async def run(self, team: str, request: AiPreviewRequest, requested_by: str) -> dict[str, Any]:
        """The report; HttpError with the summarizer's code when it refuses."""
        if not self.url:
            raise HttpError(503, "preview.unavailable",
                            "set FIGSYNC_AI_PREVIEW_URL to the summarizer's address")  # fmt: skip
        body = {
            "team": team,
            "preview_id": str(request.preview_id or uuid.uuid4()),
            "requested_by": requested_by,
            "job_id": request.job_id,
            "draft": request.draft.changes(),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(
                    f"{self.url}/internal/summarizer/preview",
                    json=body,
                    headers={HEADER: self.token},
                )
            found = response.json()
        except httpx.HTTPError as error:
            raise HttpError(503, "preview.unavailable",
                            f"the summarizer did not answer ({type(error).__name__})") from error  # fmt: skip
        except ValueError as error:
            raise HttpError(503, "preview.unavailable",
                            "the summarizer answered something else than JSON") from error  # fmt: skip
        if response.status_code == 200:
            try:
                return AiPreviewReport.model_validate(found).model_dump()
            except ValidationError as error:
                raise HttpError(503, "preview.unavailable",
                                "the summarizer's answer is not a preview report") from error  # fmt: skip
        error = found.get("error") if isinstance(found, dict) else None
        if response.status_code in (404, 409, 422) and isinstance(error, dict):
            raise HttpError(response.status_code, str(error.get("code")),
                            str(error.get("message")))  # fmt: skip
        raise HttpError(503, "preview.unavailable",
                        f"the summarizer answered {response.status_code}")  # fmt: skip
