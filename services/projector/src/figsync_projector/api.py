"""The read API and commands, every route scoped to a team: /api/teams/{team}/...

`team_scope` is the one dependency that admits a request to a team: it authenticates the caller
(a bearer token, or a trusted proxy's user header) and needs a role in the team; `admin_scope`
needs the admin role. Another team's routes answer 404 as if the team did not exist.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from figsync_eventstore import EventStore
from figsync_projector import auth as tokens
from figsync_projector.admin import NotionCheck, SettingsInvalid, SettingsPatch, check_secrets
from figsync_projector.auth import Authenticator, AuthError, Principal, same_origin
from figsync_projector.commands import CommandError, request_retry, request_sync
from figsync_projector.feed import ChangeFeed
from figsync_projector.fold import STATUSES
from figsync_projector.views import Views
from figsync_runtime.teams import TEAM_ID, TeamError, TeamRepository, TeamSettings


def _check_job_id(team: str, job_id: str) -> None:
    # Postgres text cannot hold NUL; such an id names no job (and must not reach the database).
    if "\x00" in job_id or len(job_id) > 200:
        raise ApiError(404, "job.not_found", f"no such job in team {team!r}")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class Job(BaseModel):
    job_id: str
    team: str
    source: str | None
    status: str
    step: str | None
    file_key: str | None
    file_name: str | None
    comment_id: str | None
    author: str | None
    mention: str | None
    title: str | None
    notion_url: str | None
    attempts: int
    error_code: str | None
    error_message: str | None
    deferred_until: datetime | None
    cost_usd: Decimal
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    processing_ms: int | None
    event_count: int
    last_position: int


class TimelineEntry(BaseModel):
    position: int
    version: int
    type: str
    detail: dict[str, Any]
    recorded_at: datetime


class JobDetail(Job):
    timeline: list[TimelineEntry]


class JobPage(BaseModel):
    items: list[Job]
    total: int
    limit: int
    offset: int


class Stats(BaseModel):
    team: str
    since: datetime
    total: int
    successful: int
    failed: int
    ignored: int
    deferred: int
    in_progress: int
    success_rate: float | None
    avg_processing_ms: float | None
    cost_this_month_usd: Decimal


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


class ErrorCount(BaseModel):
    code: str
    count: int
    step: str | None
    first_seen: datetime
    last_seen: datetime
    last_message: str | None
    last_job_id: str | None


class MonthlyCost(BaseModel):
    month: str
    cost_usd: Decimal
    summaries: int
    ai_summaries: int
    input_tokens: int
    output_tokens: int
    budget_exceeded: bool


class RetryAccepted(BaseModel):
    job_id: str
    step: str | None
    event_id: str


class SyncRequest(BaseModel):
    file_key: str


class SyncAccepted(BaseModel):
    sync_id: str
    stream_id: str
    file_key: str
    event_id: str


class NotionCheckRequest(BaseModel):
    database_id: str | None = None
    field_mapping: dict[str, str] | None = None


class NotionCheckReport(BaseModel):
    ok: bool
    errors: int
    lines: list[str]


class SecretsSet(BaseModel):
    secrets_set: list[str]


class TokenRequest(BaseModel):
    role: tokens.Role = "member"
    name: str = Field(default="", max_length=100)


class TokenCreated(BaseModel):
    token: str = Field(description="shown once; only its hash is kept")
    token_id: str
    team: str
    role: str


class TokenInfo(BaseModel):
    token_id: str
    role: str
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None


ERRORS = {
    401: {"model": ErrorResponse, "description": "no, unknown or revoked token"},
    404: {"model": ErrorResponse, "description": "unknown team (or not yours) or job"},
}
ADMIN = {403: {"model": ErrorResponse, "description": "needs the admin role"}}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Clock = Callable[[], datetime]


def create_app(
    views: Views,
    store: EventStore,
    feed: ChangeFeed,
    *,
    clock: Clock = lambda: datetime.now(UTC),
    keepalive_seconds: float = 15.0,
    auth: Authenticator,
    teams: TeamRepository | None = None,
    notion_check: NotionCheck | None = None,
) -> FastAPI:
    """The projector's HTTP API (OpenAPI at /openapi.json, docs at /docs). Every route needs
    a principal from `auth` with a role in the team; settings routes need `teams`."""
    app = FastAPI(
        title="figsync projector",
        summary="Jobs, metrics and commands of figsync teams",
        version="1",
    )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": error.code, "message": error.message}}, status_code=error.status
        )

    @app.exception_handler(CommandError)
    async def _command_error(_: Request, error: CommandError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": error.code, "message": error.message}}, status_code=error.status
        )

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, error: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(
            {"error": {"code": error.code, "message": error.message}},
            status_code=error.status,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        # Unknown routes, wrong methods: the same error shape as every other refusal.
        code = {404: "route.not_found", 405: "route.method_not_allowed"}.get(
            error.status_code, "request.refused"
        )
        return JSONResponse(
            {"error": {"code": code, "message": str(error.detail)}},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return JSONResponse(
            {"error": {"code": "request.invalid", "message": problems}}, status_code=422
        )

    async def team_scope(team: str, request: Request) -> str:
        principal = await auth.api_principal(request)
        if principal.ambient and request.method not in SAFE_METHODS and not same_origin(request):
            raise AuthError(403, "auth.cross_site", "a command from another site was refused")
        if not TEAM_ID.match(team) or principal.role(team) is None:
            raise ApiError(404, "team.not_found", f"no team {team!r} (or not one of yours)")
        request.state.principal = principal
        return team

    Team = Annotated[str, Depends(team_scope)]

    async def admin_scope(team: Team, request: Request) -> str:
        if request.state.principal.role(team) != "admin":
            raise AuthError(
                403, "auth.admin_required", f"only an admin of team {team!r} may do this"
            )
        return team

    TeamAdmin = Annotated[str, Depends(admin_scope)]
    router = APIRouter(prefix="/api/teams/{team}", responses=ERRORS)

    async def who(request: Request) -> str:
        principal: Principal = request.state.principal
        return principal.actor

    def repository() -> TeamRepository:
        if teams is None:
            raise ApiError(503, "settings.unavailable", "this server has no team repository")
        return teams

    @router.get("/stats", response_model=Stats)
    async def stats(team: Team) -> dict[str, Any]:
        """Last 30 days: jobs, success rate (completed / (completed + failed)), average
        processing time of completed jobs; AI cost this month."""
        return await views.stats(team, clock())

    @router.get("/jobs", response_model=JobPage)
    async def jobs(
        team: Team,
        status: Annotated[list[str] | None, Query(description="repeat to match several")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Jobs of the team, newest first."""
        unknown = sorted(set(status or ()) - set(STATUSES))
        if unknown:
            raise ApiError(
                422, "jobs.bad_status", f"unknown status {unknown}; one of {', '.join(STATUSES)}"
            )
        items, total = await views.jobs(team, status, limit, offset)
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @router.get("/jobs/{job_id}", response_model=JobDetail)
    async def job(team: Team, job_id: str) -> dict[str, Any]:
        """One job with its timeline (every event of the job)."""
        _check_job_id(team, job_id)
        found = await views.job(team, job_id)
        if found is None:
            raise ApiError(404, "job.not_found", f"no job {job_id!r} in team {team!r}")
        return {**found, "timeline": await views.timeline(team, job_id)}

    @router.get("/metrics/daily", response_model=list[DailyMetric])
    async def daily(
        team: Team,
        since: date | None = None,
        until: date | None = None,
    ) -> list[dict[str, Any]]:
        """Per UTC day (default: the last 30 days)."""
        today = clock().date()
        until = until or today
        if since is None:
            if until.toordinal() <= 29:
                raise ApiError(422, "metrics.bad_range", "until is before the first day there is")
            since = until - timedelta(days=29)
        if since > until or (until - since).days > 366:
            raise ApiError(422, "metrics.bad_range", "since must be ≤ until, at most 366 days")
        return await views.daily(team, since, until)

    @router.get("/errors", response_model=list[ErrorCount])
    async def errors(team: Team) -> list[dict[str, Any]]:
        """Failures by error code, most frequent first."""
        return await views.errors(team)

    @router.get("/costs", response_model=list[MonthlyCost])
    async def costs(team: Team) -> list[dict[str, Any]]:
        """AI cost per month, newest first."""
        return await views.costs(team)

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        team: Team,
        request: Request,
        after: Annotated[int | None, Query(ge=0)] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-sent events: `event: job` with the job as data and its last position as id,
        for every job change after `after` / `Last-Event-ID` (default: from now on)."""
        if last_event_id and last_event_id.isdigit():
            start = int(last_event_id)
        elif after is not None:
            start = after
        else:
            start = await views.team_position(team)
        return StreamingResponse(
            _job_changes(views, feed, team, start, keepalive_seconds),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post("/jobs/{job_id}/retry", status_code=202, response_model=RetryAccepted,
                 responses={409: {"model": ErrorResponse, "description": "not failed/deferred"}})  # fmt: skip
    async def retry(team: Team, job_id: str, request: Request) -> dict[str, Any]:
        """Re-drive a failed or deferred job from its failed step (JobRetryRequested)."""
        _check_job_id(team, job_id)
        done = await request_retry(store, job_id, team=team, requested_by=await who(request))
        return {"job_id": done.job_id, "step": done.step, "event_id": done.event_id}

    @router.post("/sync", status_code=202, response_model=SyncAccepted)
    async def sync(team: Team, body: SyncRequest, request: Request) -> dict[str, Any]:
        """Find the file's comments that mention tracked handles and have no task yet, and
        start a job for each (ManualSyncRequested; the figma service does the lookup)."""
        done = await request_sync(store, team, body.file_key, requested_by=await who(request))
        return {"sync_id": done.sync_id, "stream_id": done.stream_id,
                "file_key": done.file_key, "event_id": done.event_id}  # fmt: skip

    @router.get("/settings", response_model=TeamSettings)
    async def get_settings(team: Team) -> TeamSettings:
        """The team's settings; secrets only by name (`secrets_set`), never their values."""
        found = await repository().get(team)
        return found or TeamSettings(team=team)

    @router.patch("/settings", response_model=TeamSettings, responses=ADMIN)
    async def patch_settings(team: TeamAdmin, body: SettingsPatch, request: Request) -> Any:
        """Change some settings (admins); each change is a TeamSettingsChanged event."""
        return await change_settings(repository(), team, body.changes(), {}, await who(request))

    @router.put("/secrets", response_model=SecretsSet, responses=ADMIN)
    async def put_secrets(team: TeamAdmin, body: dict[str, str], request: Request) -> Any:
        """Set secrets (admins): write-only, the answer names which are set."""
        try:
            values = check_secrets(body)
        except SettingsInvalid as error:
            raise ApiError(422, "secrets.invalid", error.problems) from error
        done = await change_settings(repository(), team, {}, values, await who(request))
        return {"secrets_set": done.secrets_set}

    @router.post("/settings/notion-check", response_model=NotionCheckReport, responses=ADMIN)
    async def notion_check_route(team: TeamAdmin, body: NotionCheckRequest) -> Any:
        """Check the Notion database and field mapping (given, or the saved ones) live."""
        if notion_check is None:
            raise ApiError(503, "notion.check_unavailable", "the notion check is not configured")
        return await notion_check.run(team, body.database_id, body.field_mapping)

    @router.get("/tokens", response_model=list[TokenInfo], responses=ADMIN)
    async def list_tokens(team: TeamAdmin) -> Any:
        """The team's API tokens (their public ids; the tokens themselves are not kept)."""
        return await tokens.list_tokens(auth.pool, team)

    @router.post("/tokens", status_code=201, response_model=TokenCreated, responses=ADMIN)
    async def create_token(team: TeamAdmin, body: TokenRequest, request: Request) -> Any:
        """A new API token for the team; the answer is the only time it is shown."""
        issued = await tokens.issue_token(
            auth.pool, team, body.role, name=body.name, created_by=await who(request)
        )
        return issued.__dict__

    @router.delete("/tokens/{token_id}", status_code=204, responses=ADMIN)
    async def revoke_token(team: TeamAdmin, token_id: str) -> Response:
        """Revoke a token of the team (its dashboard sessions end too)."""
        if not await tokens.revoke_token(auth.pool, team, token_id):
            raise ApiError(404, "token.not_found", f"no active token {token_id!r} in {team!r}")
        return Response(status_code=204)

    app.include_router(router)
    return app


async def change_settings(
    teams: TeamRepository,
    team: str,
    changes: dict[str, Any],
    secrets: dict[str, str],
    changed_by: str,
) -> TeamSettings:
    try:
        return await teams.change(team, changes, secrets=secrets, changed_by=changed_by)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ApiError(422, "settings.invalid", problems) from error
    except TeamError as error:
        code, _, message = str(error).partition(": ")
        status = 409 if code == "team.concurrent_change" else 422
        raise ApiError(status, code, message or str(error)) from error


async def _job_changes(
    views: Views, feed: ChangeFeed, team: str, position: int, keepalive: float
) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    while not feed.closed:
        waiter = feed.waiter()
        changes = await views.changed_jobs(team, position, 100)
        for row in changes:
            position = row["last_position"]
            data = Job.model_validate(row).model_dump_json()
            yield f"id: {position}\nevent: job\ndata: {data}\n\n"
        if len(changes) == 100:
            continue
        if not await feed.wait(waiter, keepalive):
            yield ": keep-alive\n\n"
        await asyncio.sleep(0)
