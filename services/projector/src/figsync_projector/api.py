"""The read API and commands, every route scoped to a team: /api/teams/{team}/...

Every route depends on `ApiScope` (deps.py), which authenticates the caller (a bearer token,
or a trusted proxy's user header) and needs a role in the team; `AdminScope` needs the admin
role. Another team's routes answer 404 as if the team did not exist.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from figsync_eventstore import EventStore
from figsync_projector import audit, sse
from figsync_projector import auth as tokens
from figsync_projector.access import Access
from figsync_projector.admin import NotionCheck, SettingsInvalid, SettingsPatch, check_secrets
from figsync_projector.ai_preview import AiPreview, AiPreviewReport, AiPreviewRequest
from figsync_projector.auth import Authenticator, TokenPolicy
from figsync_projector.commands import request_retry, request_sync
from figsync_projector.deps import (
    AdminScope,
    ApiContext,
    ApiScope,
    Clock,
    Context,
    HttpError,
    _now,
    install_refusals,
)
from figsync_projector.feed import ChangeFeed
from figsync_projector.filters import Filtered
from figsync_projector.models import (
    DailyMetric,
    ErrorCount,
    JobDetail,
    JobPage,
    MonthlyCost,
)
from figsync_projector.views import Views
from figsync_runtime.edge import NetworkAllowList, SecurityHeaders
from figsync_runtime.routing import MAX_NOTION_TARGETS, NotionTarget
from figsync_runtime.teams import SECRET_NAMES, TeamError, TeamRepository, TeamSettings


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


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
    targets: Annotated[list[NotionTarget], Field(max_length=MAX_NOTION_TARGETS)] | None = Field(
        default=None, description="proposed routing targets; omitted: the saved ones"
    )


class NotionCheckReport(BaseModel):
    ok: bool
    errors: int
    lines: list[str]


class SecretsSet(BaseModel):
    secrets_set: list[str]


class TokenRequest(BaseModel):
    role: tokens.Role = "member"
    name: str = Field(default="", max_length=100)
    expires_in_days: float | None = Field(
        default=None,
        gt=0,
        description="omitted: the server's FIGSYNC_TOKEN_TTL_DAYS; an explicit null: never",
    )


class RotateRequest(BaseModel):
    grace_hours: float | None = Field(
        default=None,
        ge=0,
        description="how long the old token keeps working (omitted: the server's "
        "FIGSYNC_TOKEN_ROTATION_GRACE_HOURS)",
    )
    expires_in_days: float | None = Field(
        default=None, gt=0, description="the new token's lifetime, as when issuing one"
    )


class TokenCreated(BaseModel):
    token: str = Field(description="shown once; only its hash is kept")
    token_id: str
    team: str
    role: str
    expires_at: datetime | None = Field(description="null: never expires")
    replaces: str | None = Field(default=None, description="rotation: the token it replaces")
    replaced_until: datetime | None = Field(
        default=None, description="rotation: the old token works until then"
    )


class TokenInfo(BaseModel):
    token_id: str
    role: str
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    expired: bool
    rotated_to: str | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no, unknown or revoked token"},
    404: {"model": ErrorResponse, "description": "unknown team (or not yours) or job"},
}
ADMIN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "needs the admin role"}
}

router = APIRouter(prefix="/api/teams/{team}", responses=ERRORS)


def check_job_id(team: str, job_id: str) -> None:
    # Postgres text cannot hold NUL; such an id names no job (and must not reach the database).
    if "\x00" in job_id or len(job_id) > 200:
        raise HttpError(404, "job.not_found", f"no such job in team {team!r}")


def repository(ctx: Context) -> TeamRepository:
    if ctx.teams is None:
        raise HttpError(503, "settings.unavailable", "this server has no team repository")
    return ctx.teams


@router.get("/stats", response_model=Stats)
async def stats(scope: ApiScope, ctx: ApiContext) -> dict[str, Any]:
    """Last 30 days: jobs, success rate (completed / (completed + failed)), average
    processing time of completed jobs; AI cost this month."""
    return await ctx.views.stats(scope.team, ctx.clock())


@router.get("/jobs", response_model=JobPage)
async def jobs(
    scope: ApiScope,
    ctx: ApiContext,
    filters: Filtered,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Jobs of the team, newest first, that match every filter given."""
    items, total = await ctx.views.jobs(scope.team, filters, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/jobs/{job_id}", response_model=JobDetail)
async def job(scope: ApiScope, ctx: ApiContext, job_id: str) -> dict[str, Any]:
    """One job with its timeline (every event of the job) and its story (thread, summary)."""
    check_job_id(scope.team, job_id)
    found = await ctx.views.job(scope.team, job_id)
    if found is None:
        raise HttpError(404, "job.not_found", f"no job {job_id!r} in team {scope.team!r}")
    return {
        **found,
        "timeline": await ctx.views.timeline(scope.team, job_id),
        "story": await ctx.views.story(scope.team, job_id),
    }


@router.get("/metrics/daily", response_model=list[DailyMetric])
async def daily(
    scope: ApiScope, ctx: ApiContext, since: date | None = None, until: date | None = None
) -> list[dict[str, Any]]:
    """Per UTC day (default: the last 30 days)."""
    until = until or ctx.clock().date()
    if since is None:
        if until.toordinal() <= 29:
            raise HttpError(422, "metrics.bad_range", "until is before the first day there is")
        since = until - timedelta(days=29)
    if since > until or (until - since).days > 366:
        raise HttpError(422, "metrics.bad_range", "since must be ≤ until, at most 366 days")
    return await ctx.views.daily(scope.team, since, until)


@router.get("/errors", response_model=list[ErrorCount])
async def errors(scope: ApiScope, ctx: ApiContext) -> list[dict[str, Any]]:
    """Failures by error code, most frequent first."""
    return await ctx.views.errors(scope.team)


@router.get("/costs", response_model=list[MonthlyCost])
async def costs(scope: ApiScope, ctx: ApiContext) -> list[dict[str, Any]]:
    """AI cost per month, newest first."""
    return await ctx.views.costs(scope.team)


@router.post("/jobs/{job_id}/retry", status_code=202, response_model=RetryAccepted,
             responses={409: {"model": ErrorResponse, "description": "not failed/deferred"}})  # fmt: skip
async def retry(scope: ApiScope, ctx: ApiContext, job_id: str) -> dict[str, Any]:
    """Re-drive a failed or deferred job from its failed step (JobRetryRequested)."""
    check_job_id(scope.team, job_id)
    done = await request_retry(
        ctx.store, job_id, team=scope.team, requested_by=scope.principal.actor
    )
    return {"job_id": done.job_id, "step": done.step, "event_id": done.event_id}


@router.post("/sync", status_code=202, response_model=SyncAccepted)
async def sync(scope: ApiScope, ctx: ApiContext, body: SyncRequest) -> dict[str, Any]:
    """Find the file's comments that mention tracked handles and have no task yet, and
    start a job for each (ManualSyncRequested; the figma service does the lookup)."""
    done = await request_sync(
        ctx.store, scope.team, body.file_key, requested_by=scope.principal.actor
    )
    return {"sync_id": done.sync_id, "stream_id": done.stream_id,
            "file_key": done.file_key, "event_id": done.event_id}  # fmt: skip


@router.get("/audit", responses=ADMIN)
async def get_audit(
    scope: AdminScope, ctx: ApiContext, limit: int = 100, before: int | None = None
) -> list[dict[str, Any]]:
    """The team's audit trail, newest first (admins): settings and secrets changed (names
    only), tokens issued, rotated and revoked, members, retries and manual syncs. Page on with
    `before` = the last entry's position."""
    entries = await audit.trail(ctx.auth.pool, scope.team, limit=max(1, min(limit, 500)),
                                before=before)  # fmt: skip
    return [asdict(e) for e in entries]


@router.get("/settings", response_model=TeamSettings)
async def get_settings(scope: ApiScope, ctx: ApiContext) -> TeamSettings:
    """The team's settings; secrets only by name (`secrets_set`), never their values."""
    found = await repository(ctx).get(scope.team)
    return found or TeamSettings(team=scope.team)


@router.patch("/settings", response_model=TeamSettings, responses=ADMIN)
async def patch_settings(
    scope: AdminScope, ctx: ApiContext, body: SettingsPatch, request: Request
) -> Any:
    """Change some settings (admins); each change is a TeamSettingsChanged event."""
    ctx.access.refuse_lock_out(request, body.allowed_networks)
    return await change_settings(
        repository(ctx), scope.team, body.changes(), {}, scope.principal.actor
    )


@router.put("/secrets", response_model=SecretsSet, responses=ADMIN)
async def put_secrets(scope: AdminScope, ctx: ApiContext, body: dict[str, str]) -> Any:
    """Set secrets (admins): write-only, the answer names which are set."""
    try:
        values = check_secrets(body)
    except SettingsInvalid as error:
        raise HttpError(422, "secrets.invalid", error.problems) from error
    done = await change_settings(repository(ctx), scope.team, {}, values, scope.principal.actor)
    return {"secrets_set": done.secrets_set}


@router.delete("/secrets/{name}", status_code=204, responses=ADMIN)
async def clear_secret(scope: AdminScope, ctx: ApiContext, name: str) -> Response:
    """Clear a secret (admins); the TeamSettingsChanged event names it, never its value."""
    if name not in SECRET_NAMES:
        raise HttpError(404, "secret.unknown", f"no secret {name!r} (one of "
                        f"{', '.join(sorted(SECRET_NAMES))})")  # fmt: skip
    current = await repository(ctx).get(scope.team)
    if current is None or name not in current.secrets_set:
        raise HttpError(404, "secret.not_set", f"{name} is not set for team {scope.team!r}")
    await change_settings(repository(ctx), scope.team, {}, {}, scope.principal.actor,
                          clear=[name])  # fmt: skip
    return Response(status_code=204)


@router.post("/settings/notion-check", response_model=NotionCheckReport, responses=ADMIN)
async def notion_check(scope: AdminScope, ctx: ApiContext, body: NotionCheckRequest) -> Any:
    """Check the Notion database and field mapping, and every routing target's (given, or the
    saved ones) live."""
    if ctx.notion_check is None:
        raise HttpError(503, "notion.check_unavailable", "the notion check is not configured")
    return await ctx.notion_check.run(
        scope.team, body.database_id, body.field_mapping, body.targets
    )


@router.post("/settings/ai-preview", response_model=AiPreviewReport,
             responses={**ADMIN, 409: {"model": ErrorResponse, "description": "repeated id"}})  # fmt: skip
async def ai_preview(scope: AdminScope, ctx: ApiContext, body: AiPreviewRequest) -> Any:
    """The summary the team's AI settings (or the draft's, unsaved) give a sample thread or
    one of its jobs' threads, now. It calls the model: priced, and counted against the team's
    monthly AI budget like a summary (a SummaryPreviewed event)."""
    if ctx.ai_preview is None:
        raise HttpError(503, "preview.unavailable", "the AI preview is not configured")
    if body.job_id is not None:
        check_job_id(scope.team, body.job_id)
    return await ctx.ai_preview.run(scope.team, body, scope.principal.actor)


@router.get("/tokens", response_model=list[TokenInfo], responses=ADMIN)
async def list_tokens(scope: AdminScope, ctx: ApiContext) -> Any:
    """The team's API tokens (their public ids; the tokens themselves are not kept)."""
    return await tokens.list_tokens(ctx.auth.pool, scope.team)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=ADMIN)
async def create_token(scope: AdminScope, ctx: ApiContext, body: TokenRequest) -> Any:
    """A new API token for the team; the answer is the only time it is shown. It expires
    after `expires_in_days` (omitted: the server's default; an explicit null: never)."""
    issued = await tokens.issue_token(
        ctx.auth.pool, scope.team, body.role, name=body.name, created_by=scope.principal.actor,
        expires_in=lifetime(body, ctx.token_policy),
    )  # fmt: skip
    return issued.__dict__


@router.post("/tokens/{token_id}/rotate", status_code=201, response_model=TokenCreated,
             responses={**ADMIN, 409: {"model": ErrorResponse, "description": "rotated"}})  # fmt: skip
async def rotate_token(
    scope: AdminScope, ctx: ApiContext, token_id: str, body: RotateRequest | None = None
) -> Any:
    """Issue the token's successor (same name and role; shown once) and let the old token work
    for the grace period, so its users switch without downtime."""
    body = body or RotateRequest()
    grace = (
        timedelta(hours=body.grace_hours)
        if body.grace_hours is not None
        else ctx.token_policy.grace
    )
    issued = await tokens.rotate_token(
        ctx.auth.pool, scope.team, token_id, grace=grace,
        expires_in=lifetime(body, ctx.token_policy), actor=scope.principal.actor,
    )  # fmt: skip
    return issued.__dict__


def lifetime(body: TokenRequest | RotateRequest, policy: TokenPolicy) -> timedelta | None:
    if "expires_in_days" not in body.model_fields_set:
        return policy.ttl
    return timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None


@router.delete("/tokens/{token_id}", status_code=204, responses=ADMIN)
async def revoke_token(scope: AdminScope, ctx: ApiContext, token_id: str) -> Response:
    """Revoke a token of the team (its dashboard sessions end too)."""
    if not await tokens.revoke_token(
        ctx.auth.pool, scope.team, token_id, actor=scope.principal.actor
    ):
        raise HttpError(404, "token.not_found", f"no active token {token_id!r} in {scope.team!r}")
    return Response(status_code=204)


async def change_settings(
    teams: TeamRepository,
    team: str,
    changes: dict[str, Any],
    secrets: dict[str, str],
    changed_by: str,
    clear: list[str] | None = None,
) -> TeamSettings:
    try:
        return await teams.change(
            team, changes, secrets=secrets, clear_secrets=clear or (), changed_by=changed_by
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise HttpError(422, "settings.invalid", problems) from error
    except TeamError as error:
        code, _, message = str(error).partition(": ")
        status = 409 if code == "team.concurrent_change" else 422
        raise HttpError(status, code, message or str(error)) from error


def create_app(
    views: Views,
    store: EventStore,
    feed: ChangeFeed,
    *,
    clock: Clock = _now,
    keepalive_seconds: float = 15.0,
    auth: Authenticator,
    teams: TeamRepository | None = None,
    notion_check: NotionCheck | None = None,
    ai_preview: AiPreview | None = None,
    access: Access | None = None,
    token_policy: TokenPolicy | None = None,
) -> FastAPI:
    """The projector's HTTP API (OpenAPI at /openapi.json, docs at /docs). Every route needs
    a principal from `auth` with a role in the team; settings routes need `teams`. Every
    response of the app (the dashboard's and the health routes' too) gets the security
    headers; `access` limits where from and how often."""
    access = access or Access()
    app = FastAPI(
        title="figsync projector",
        summary="Jobs, metrics and commands of figsync teams",
        version="1",
    )
    app.state.api = Context(
        views, store, feed, auth, teams, notion_check, ai_preview,
        keepalive_seconds=keepalive_seconds, clock=clock, access=access,
        token_policy=token_policy or TokenPolicy(),
    )  # fmt: skip
    install_refusals(app)
    app.add_middleware(NetworkAllowList, networks=access.networks, trusted_hops=access.trusted_hops)
    # Outermost, so refusals of the allow-list and unhandled errors get the headers too; the
    # dashboard's static files may be cached.
    app.add_middleware(SecurityHeaders, cacheable=("/static/",))
    app.include_router(router)
    app.include_router(sse.api_router, responses=ERRORS)
    return app
