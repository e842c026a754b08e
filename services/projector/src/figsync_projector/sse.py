"""Live job changes as server-sent events: the API's `/events` (JSON) and the dashboard's
`/live` (rendered rows), both over one stream loop.

A hand-written loop rather than sse-starlette: what is particular here (wake on the change
feed, resume from a position, end when a session ends) is the loop itself, and the framing is
three lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from figsync_projector.deps import ApiContext, ApiScope, Context, PageContext, PageScope
from figsync_projector.filters import Filtered
from figsync_projector.models import Job

BATCH = 100
# Returns a last message to send before the stream ends, or None to go on.
Check = Callable[[], Awaitable[str | None]]


def frame(data: str, *, event: str | None = None, id: int | None = None) -> str:
    """One SSE message; every line of `data` gets its own `data:` field."""
    head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event else "")
    return head + "".join(f"data: {line}\n" for line in data.splitlines() or [""]) + "\n"


async def job_changes(
    ctx: Context,
    team: str,
    position: int,
    render: Callable[[dict[str, Any]], str],
    check: Check | None = None,
) -> AsyncIterator[str]:
    """`event: job` for every job of the team that changes after `position`, with its last
    position as id (a reconnecting client resumes from it); a comment line keeps it alive."""
    yield "retry: 3000\n\n"
    while not ctx.feed.closed:
        if check is not None and (last := await check()) is not None:
            yield last
            return
        waiter = ctx.feed.waiter()
        changes = await ctx.views.changed_jobs(team, position, BATCH)
        for job in changes:
            position = job["last_position"]
            yield frame(render(job), event="job", id=position)
        if len(changes) == BATCH:
            continue
        if not await ctx.feed.wait(waiter, ctx.keepalive_seconds):
            yield ": keep-alive\n\n"
        await asyncio.sleep(0)


def stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def start_position(ctx: Context, team: str, last_event_id: str | None, after: int | None):
    if last_event_id and last_event_id.isdigit():
        return int(last_event_id)
    return after if after is not None else await ctx.views.team_position(team)


api_router = APIRouter()


@api_router.get(
    "/api/teams/{team}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    scope: ApiScope,
    ctx: ApiContext,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: `event: job` with the job as data and its last position as id,
    for every job change after `after` / `Last-Event-ID` (default: from now on)."""
    start = await start_position(ctx, scope.team, last_event_id, after)
    return stream(job_changes(ctx, scope.team, start, _job_json))


def _job_json(job: dict[str, Any]) -> str:
    return Job.model_validate(job).model_dump_json()


page_router = APIRouter(include_in_schema=False)


@page_router.get("/t/{team}/live")
async def live(
    request: Request, scope: PageScope, ctx: PageContext, filters: Filtered
) -> StreamingResponse:
    """The Jobs page's live rows; `data-matches` says whether a row passes the page's filter."""
    start = await start_position(ctx, scope.team, request.headers.get("last-event-id"), None)
    row = request.app.state.templates.env.get_template("_job_row.html")

    def render(job: dict[str, Any]) -> str:
        html = row.render(job=job, page=scope, live=True, matches=filters.matches(job))
        return html.strip()

    async def signed_in() -> str | None:
        if await request.is_disconnected():
            return ""
        if scope.principal.via == "session" and not await ctx.auth.page_principal(request):
            return "event: signed-out\ndata: \n\n"
        return None

    return stream(job_changes(ctx, scope.team, start, render, signed_in))
