"""The filtered jobs as downloads: /t/{team}/jobs.csv and /t/{team}/jobs.json (the Jobs page's
filters, every matching job, newest first)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from figsync_projector.deps import PageContext, PageScope
from figsync_projector.filters import Filtered, JobFilter
from figsync_projector.fold import JOB_COLUMNS
from figsync_projector.models import Job
from figsync_projector.templating import SECURITY_HEADERS
from figsync_projector.views import Views

router = APIRouter(include_in_schema=False)


@router.get("/t/{team}/jobs.csv")
async def jobs_csv(scope: PageScope, ctx: PageContext, filters: Filtered) -> StreamingResponse:
    return download(csv_rows(ctx.views, scope.team, filters), scope.team, "csv", "text/csv")


@router.get("/t/{team}/jobs.json")
async def jobs_json(scope: PageScope, ctx: PageContext, filters: Filtered) -> StreamingResponse:
    return download(
        json_rows(ctx.views, scope.team, filters), scope.team, "json", "application/json"
    )


def download(body: AsyncIterator[str], team: str, ext: str, media: str) -> StreamingResponse:
    headers = {**SECURITY_HEADERS,
               "Content-Disposition": f'attachment; filename="figsync-{team}-jobs.{ext}"'}  # fmt: skip
    return StreamingResponse(body, media_type=f"{media}; charset=utf-8", headers=headers)


async def csv_rows(views: Views, team: str, filters: JobFilter) -> AsyncIterator[str]:
    yield line(JOB_COLUMNS)
    async for job in views.each_job(team, filters):
        yield line([cell(job[c]) for c in JOB_COLUMNS])


def line(values: Any) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with a '."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return (
        "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text
    )


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def json_rows(views: Views, team: str, filters: JobFilter) -> AsyncIterator[str]:
    yield '{"team": ' + json.dumps(team) + ', "filters": ' + json.dumps(
        filters.query()) + ', "items": ['  # fmt: skip
    first = True
    async for job in views.each_job(team, filters):
        yield ("" if first else ",") + "\n" + Job.model_validate(job).model_dump_json()
        first = False
    yield "\n]}\n"
