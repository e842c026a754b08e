"""Response models of the read API, derived from the view rows they show."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_type_hints

from pydantic import BaseModel, create_model

from figsync_projector import fold


def model_of(row: type, name: str, base: type[BaseModel] = BaseModel, **extra: Any):
    """A pydantic model with the fields of a view-row dataclass (same names and types)."""
    hints = get_type_hints(row)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(row)}
    return create_model(name, __base__=base, **fields, **extra)


Job = model_of(fold.JobRow, "Job")
ErrorCount = model_of(fold.ErrorCount, "ErrorCount", code=(str, ...))
ModelCost = model_of(fold.ModelCost, "ModelCost", model=(str, ...))
MonthlyCost = model_of(
    fold.Cost,
    "MonthlyCost",
    month=(str, ...),
    models=(list[ModelCost], []),  # type: ignore[valid-type]
)


class TimelineEntry(BaseModel):
    position: int
    version: int
    type: str
    detail: dict[str, Any]
    recorded_at: datetime


class ThreadComment(BaseModel):
    comment_id: str
    author: str
    text: str
    created_at: datetime | None = None
    resolved_at: datetime | None = None


class Summary(BaseModel):
    summary: str | None = None
    action_items: list[str] = []
    priority: str | None = None
    category: str | None = None
    source: str | None = None
    fallback_reason: str | None = None
    model: str | None = None


class Story(BaseModel):
    """What the job page tells beyond the row."""

    trace_id: str | None
    file_url: str | None
    thread: list[ThreadComment]
    summary: Summary | None


class JobDetail(Job):  # type: ignore[misc, valid-type]
    timeline: list[TimelineEntry]
    story: Story


class JobPage(BaseModel):
    items: list[Job]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class DailyMetric(BaseModel):
    day: date
    jobs: int
    successful: int
    failed: int
    ignored: int
    avg_processing_ms: float | None
    figma_calls: int
    notion_calls: int
    ai_calls: int
    cost_usd: Decimal
