"""The dashboard's pages and the forms they post: sign-in, overview, jobs, a job, settings,
inbound setup, team and auth. Each page depends on `PageScope`; every POST also needs the same
site and the page's CSRF token (`form_of`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from figsync_clients.budget import Budget, SharedBudgets
from figsync_clients.figma import PACE, team_per_minute, tier2_per_minute
from figsync_contracts.error_codes import describe
from figsync_projector import admin, audit, story
from figsync_projector import auth as tokens
from figsync_projector.admin import AI_DRAFT_FIELDS, AiDraft, SettingsInvalid, parse_draft
from figsync_projector.ai_preview import AiPreviewRequest
from figsync_projector.auth import SESSION_COOKIE, AuthError
from figsync_projector.charts import overview_charts
from figsync_projector.commands import CommandError, request_retry, request_sync
from figsync_projector.deps import Context, HttpError, PageContext, PageScope, Scope, SignInRequired
from figsync_projector.filters import JobFilter
from figsync_projector.fold import RETRYABLE, STATUSES
from figsync_projector.templating import render
from figsync_runtime.secrets import SecretKeyError
from figsync_runtime.teams import AI_INSTRUCTIONS_MAX, SECRET_NAMES, TeamError, TeamSettings

PAGE_SIZE = 25
MAX_FORM_BYTES = 64 * 1024
SECRET_LABELS = {
    "figma_token": "Figma personal access token",
    "notion_token": "Notion integration token",
    "anthropic_api_key": "Anthropic API key",
    "slack_webhook_url": "Slack incoming webhook URL",
    "email_webhook_secret": "Inbound email webhook secret (whsec_…)",
    "figma_webhook_passcode": "Figma webhook passcode",
    "mailgun_signing_key": "Mailgun signing key",
    "sendgrid_password": "SendGrid Inbound Parse password",
    "postmark_password": "Postmark inbound password",
}
# Secrets an admin types in (others, such as a webhook handshake's token, are set by figsync).
assert set(SECRET_LABELS) <= SECRET_NAMES
FIGMA_PLAN_LABELS = {"starter": "Starter", "professional": "Professional",
                     "organization": "Organization", "enterprise": "Enterprise"}  # fmt: skip
FIGMA_SEAT_LABELS = {"view": "View", "collab": "Collab", "dev": "Dev", "full": "Full"}
assert tuple(FIGMA_PLAN_LABELS) == admin.FIGMA_PLANS
assert tuple(FIGMA_SEAT_LABELS) == admin.FIGMA_SEATS

router = APIRouter(include_in_schema=False)


async def form_of(request: Request, scope: Scope | None) -> dict[str, list[str]]:
    """The posted form, after the same-site and CSRF checks (`scope` None: sign-in)."""
    if not tokens.same_origin(request):
        raise HttpError(403, "auth.cross_site", "a form from another site was refused")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise HttpError(415, "form.bad_type", "send the form as x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HttpError(413, "form.too_large", f"forms are at most {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as error:
        raise HttpError(400, "form.malformed", "the form could not be read") from error
    if scope is not None:
        offered = request.headers.get("x-csrf-token") or (fields.get("csrf") or [""])[0]
        request.app.state.dashboard.auth.check_csrf(scope.principal, offered)
    return fields


def flash(request: Request, scope: Scope, status: int, kind: str, code: str, message: str):
    return render(request, "_flash.html", status, kind=kind, code=code, message=message,
                  page=scope)  # fmt: skip


# --- signing in --------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request, ctx: PageContext) -> Response:
    principal = await ctx.auth.page_principal(request)
    if principal is None:
        return RedirectResponse("/signin", status_code=303)
    if len(principal.roles) == 1:
        return RedirectResponse(f"/t/{next(iter(principal.roles))}/", status_code=303)
    return RedirectResponse("/teams", status_code=303)


@router.get("/signin")
async def signin_form(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "signin.html", next=local(next), error=None, page=None)


@router.post("/signin")
async def signin(request: Request, ctx: PageContext) -> Response:
    fields = await form_of(request, None)
    token = (fields.get("token") or [""])[0]
    try:
        opened = await ctx.auth.open_session(token) if token else None
    except AuthError as error:  # token.expired: say so, it is not a typo
        opened, problem = None, f"{error.code}: {error.message}"
    else:
        problem = "auth.bad_token: that token is unknown, revoked or mistyped"
    if opened is None:
        return render(request, "signin.html", 401, page=None,
                      next=local((fields.get("next") or [""])[0]), error=problem)  # fmt: skip
    cookie, principal = opened
    team = next(iter(principal.roles))
    target = local((fields.get("next") or [""])[0]) or f"/t/{team}/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=int(ctx.auth.session_hours * 3600), httponly=True,
        samesite="strict", secure=ctx.cookie_secure, path="/",
    )  # fmt: skip
    return response


@router.post("/signout")
async def signout(request: Request, ctx: PageContext) -> Response:
    if not tokens.same_origin(request):
        raise HttpError(403, "auth.cross_site", "a form from another site was refused")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await ctx.auth.close_session(cookie)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=ctx.cookie_secure)  # fmt: skip
    return response


@router.get("/teams")
async def teams_index(request: Request, ctx: PageContext) -> HTMLResponse:
    principal = await ctx.auth.page_principal(request)
    if principal is None:
        raise SignInRequired()
    return render(request, "teams.html", principal=principal, page=None)


def sign_in_again(request: Request) -> Response:
    """Where a page request without a session goes: to sign in, then back."""
    target = "/signin?next=" + quote(request.url.path, safe="/")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method == "GET":
        return RedirectResponse(target, status_code=303)
    error = SignInRequired()
    return render(request, "error.html", 401, code=error.code, message=error.message, page=None)


def local(target: str) -> str:
    """Only same-site paths are followed after signing in (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return ""


# --- overview ----------------------------------------------------------------------------------


async def overview_context(scope: Scope, ctx: Context) -> dict[str, Any]:
    return {
        "stats": await ctx.views.stats(scope.team, ctx.clock()),
        "errors": (await ctx.views.errors(scope.team))[:5],
        "costs": (await ctx.views.costs(scope.team))[:6],
    }


@router.get("/t/{team}/")
async def overview(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    return render(request, "overview.html", page=scope, nav="overview",
                  **await overview_context(scope, ctx),
                  charts=await overview_charts(scope.team, ctx))  # fmt: skip


# --- jobs --------------------------------------------------------------------------------------


async def jobs_context(scope: Scope, ctx: Context, filters: JobFilter, number: int):
    items, total = await ctx.views.jobs(scope.team, filters, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return {"jobs": items, "total": total, "filters": filters, "number": number,
            "pages": pages, "statuses": STATUSES, "problem": None}  # fmt: skip


@router.get("/t/{team}/jobs")
async def jobs(
    request: Request,
    scope: PageScope,
    ctx: PageContext,
    p: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The Jobs page: its filters live in the query string, so a filtered page is a link."""
    name = "_jobs_table.html" if request.headers.get("hx-target") == "jobs" else "jobs.html"
    query = {key: request.query_params.getlist(key) for key in request.query_params}
    try:
        filters = JobFilter.parse(query)
    except HttpError as error:  # the page stays, with the filter form and what was wrong
        context = {"jobs": [], "total": 0, "filters": JobFilter(), "number": 1, "pages": 1,
                   "statuses": STATUSES, "problem": error}  # fmt: skip
        return render(request, name, error.status, page=scope, nav="jobs", query=query,
                      **context)  # fmt: skip
    context = await jobs_context(scope, ctx, filters, p)
    response = render(request, name, page=scope, nav="jobs", query=query, **context)
    if request.headers.get("hx-request"):  # the address bar shows the filter, without blanks
        link = filters.query(p=p if p > 1 else None)
        response.headers["HX-Push-Url"] = f"/t/{scope.team}/jobs" + (f"?{link}" if link else "")
    return response


@router.get("/t/{team}/jobs/{job_id}")
async def job(request: Request, scope: PageScope, ctx: PageContext, job_id: str) -> HTMLResponse:
    found = await ctx.views.job(scope.team, job_id)
    if found is None:
        raise HttpError(404, "job.not_found", f"no job {job_id!r} in team {scope.team!r}")
    told = story.tell(found, await ctx.views.story(scope.team, job_id), ctx.tracing_ui_url)
    timeline = await ctx.views.timeline(scope.team, job_id)
    name = "_job_detail.html" if request.headers.get("hx-target") == "detail" else "job.html"
    erased = next((e for e in timeline if e["type"] == "JobErased"), None)
    return render(request, name, page=scope, nav="jobs", job=found, timeline=timeline,
                  story=told, task=story.lifecycle(timeline), erased=erased,
                  retryable=found["status"] in RETRYABLE and erased is None)  # fmt: skip


@router.post("/t/{team}/jobs/{job_id}/retry")
async def retry(request: Request, scope: PageScope, ctx: PageContext, job_id: str):
    await form_of(request, scope)
    try:
        done = await request_retry(
            ctx.store, job_id, team=scope.team, requested_by=scope.principal.actor
        )
    except CommandError as error:
        return flash(request, scope, error.status, "error", error.code, error.message)
    return flash(request, scope, 202, "ok", "job.retry_requested",
                 f"Retry requested from step {done.step}; the timeline updates as it runs.")  # fmt: skip


@router.post("/t/{team}/sync")
async def sync(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    raw = (fields.get("file") or [""])[0]
    try:
        key = admin.file_key_of(raw)
        done = await request_sync(ctx.store, scope.team, key, requested_by=scope.principal.actor)
    except ValueError as error:
        return flash(request, scope, 422, "error", "sync.bad_file_key", str(error))
    except CommandError as error:
        return flash(request, scope, error.status, "error", error.code, error.message)
    return flash(request, scope, 202, "ok", "sync.requested",
                 f"Manual sync of {done.file_key} started ({done.sync_id}); new jobs appear "
                 "below as comments are found.")  # fmt: skip


# --- settings ----------------------------------------------------------------------------------


def refused_form(request: Request, scope: Scope, status: int, code: str, message: str):
    """For htmx: only the error, into the page's flash slot, so what was typed stays."""
    if not request.headers.get("hx-request"):
        return None
    response = flash(request, scope, status, "error", code, message)
    response.headers.update({"HX-Retarget": "#form-flash", "HX-Reswap": "innerHTML"})
    return response


async def figma_budget(ctx: Context, team: str, current: TeamSettings) -> dict[str, Any]:
    """The team's Figma budget and what its token used of it. The token is read only to
    name its budget (as the Figma client does); it never reaches the page."""
    per_minute = team_per_minute(current)
    budget: dict[str, Any] = {
        "per_minute": per_minute,
        "override": current.figma_requests_per_minute is not None,
        "plan_per_minute": tier2_per_minute(current.figma_plan, current.figma_seat),
        "plan": FIGMA_PLAN_LABELS[current.figma_plan],
        "seat": FIGMA_SEAT_LABELS[current.figma_seat],
        "pace": PACE,
        "paced": per_minute * PACE,
        "token": False,
        "problem": None,
    }
    try:
        token = await team_settings_repo(ctx).get_secret(team, "figma_token")
    except SecretKeyError as error:  # sealed with another key, or altered: no usage
        return {**budget, "problem": str(error)}
    if not token:
        return budget
    shared = Budget.for_secret("figma", token, per_minute * PACE)
    use = await SharedBudgets(ctx.auth.pool).usage(shared)
    return {**budget, "token": True, "use": use, "share": use["last_minute"] / per_minute}


def team_settings_repo(ctx: Context):
    if ctx.teams is None:
        raise HttpError(503, "settings.unavailable", "this server has no team repository")
    return ctx.teams


async def current_settings(ctx: Context, team: str) -> TeamSettings:
    return await team_settings_repo(ctx).get(team) or TeamSettings(team=team)


async def settings_page(
    request: Request, scope: Scope, ctx: Context, status: int = 200, **extra: Any
) -> HTMLResponse:
    current = await current_settings(ctx, scope.team)
    context = {
        "settings": current,
        "secret_labels": SECRET_LABELS,
        "flash": None,
        "figma_plans": FIGMA_PLAN_LABELS,
        "figma_seats": FIGMA_SEAT_LABELS,
        "figma_budget": await figma_budget(ctx, scope.team, current),
        "ai_instructions_max": AI_INSTRUCTIONS_MAX,
        "preview_jobs": await preview_jobs(ctx, scope) if scope.is_admin else [],
    }
    context.update(extra)
    name = "_settings_body.html" if request.headers.get("hx-request") else "settings.html"
    return render(request, name, status, page=scope, nav="settings", **context)


@router.get("/t/{team}/settings")
async def settings_view(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    return await settings_page(request, scope, ctx)


@router.post("/t/{team}/settings")
async def settings_save(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    scope.require_admin()
    try:
        patch = admin.parse_patch(settings_from_form(fields))
        ctx.access.refuse_lock_out(request, patch.allowed_networks)
        try:
            await team_settings_repo(ctx).change(
                scope.team, patch.changes(), changed_by=scope.principal.actor
            )
        except ValidationError as error:  # the whole (e.g. a route to a removed target)
            raise SettingsInvalid(admin.problems_of(error)) from error
    except (SettingsInvalid, TeamError, HttpError) as error:
        code, message = "settings.invalid", str(error)
        if isinstance(error, SettingsInvalid):
            message = error.problems
        elif isinstance(error, HttpError):  # access.would_lock_out
            code, message = error.code, error.message
        return refused_form(request, scope, 422, code, message) or (
            await settings_page(request, scope, ctx, 422, flash=("error", code, message))
        )
    return await settings_page(request, scope, ctx, flash=("ok", "settings.saved", "Saved."))


@router.post("/t/{team}/secrets")
async def secrets_save(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    scope.require_admin()
    clear = (fields.get("clear") or [""])[0]
    if clear:
        return await secret_clear(request, scope, ctx, clear)
    given = {
        name: values[0]
        for name, values in fields.items()
        if name in SECRET_NAMES and values and values[0].strip()
    }
    if not given:
        return await settings_page(request, scope, ctx, 422, flash=(
            "error", "secrets.none", "Type a new value in at least one secret field."))  # fmt: skip
    try:
        values = admin.check_secrets(given)
        await team_settings_repo(ctx).change(
            scope.team, {}, secrets=values, changed_by=scope.principal.actor
        )
    except (SettingsInvalid, TeamError) as error:
        message = error.problems if isinstance(error, SettingsInvalid) else str(error)
        return refused_form(request, scope, 422, "secrets.invalid", message) or (
            await settings_page(
                request, scope, ctx, 422, flash=("error", "secrets.invalid", message)
            )  # fmt: skip
        )
    names = ", ".join(SECRET_LABELS.get(n, n) for n in sorted(values))
    return await settings_page(request, scope, ctx, flash=("ok", "secrets.saved",
                                                           f"Saved: {names}."))  # fmt: skip


async def secret_clear(request: Request, scope: Scope, ctx: Context, name: str) -> HTMLResponse:
    """The form's "Clear" button of one secret: it is deleted; the event names it."""
    current = await current_settings(ctx, scope.team)
    if name not in SECRET_LABELS or name not in current.secrets_set:
        label = SECRET_LABELS.get(name, "That secret")
        return await settings_page(request, scope, ctx, 404,
                                   flash=("error", "secret.not_set", f"{label} is not set."))  # fmt: skip
    try:
        await team_settings_repo(ctx).change(
            scope.team, {}, clear_secrets=[name], changed_by=scope.principal.actor
        )
    except TeamError as error:
        return await settings_page(request, scope, ctx, 409,
                                   flash=("error", "secrets.invalid", str(error)))  # fmt: skip
    return await settings_page(request, scope, ctx, flash=(
        "ok", "secret.cleared", f"Cleared: {SECRET_LABELS[name]}."))  # fmt: skip


@router.post("/t/{team}/settings/notion-check")
async def notion_check(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    scope.require_admin()
    if ctx.notion_check is None:
        raise HttpError(503, "notion.check_unavailable", "the notion check is not configured")
    try:
        draft = admin.parse_patch(
            {
                k: v
                for k, v in settings_from_form(fields).items()
                if k in ("notion_database_id", "notion_field_mapping", "notion_targets")
            }  # fmt: skip
        )
    except SettingsInvalid as error:
        report = {"ok": False, "errors": 1, "lines": [f"  error  {error.problems}"]}
    else:
        report = await ctx.notion_check.run(
            scope.team, draft.notion_database_id, draft.notion_field_mapping, draft.notion_targets
        )
    return render(request, "_notion_report.html", page=scope, report=report)


async def preview_jobs(ctx: Context, scope: Scope, limit: int = 10) -> list[dict[str, Any]]:
    """The team's latest jobs that have a thread to try the AI settings on."""
    recent, _ = await ctx.views.jobs(scope.team, JobFilter(), 4 * limit, 0)
    return [job for job in recent if job["comment_text"]][:limit]


@router.post("/t/{team}/settings/ai-preview")
async def ai_preview(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    """The Settings form's "Preview": the summary with what is typed in the AI section (only
    what differs from the saved settings is tried as a draft), on the chosen thread."""
    fields = await form_of(request, scope)
    scope.require_admin()
    if ctx.ai_preview is None:
        raise HttpError(503, "preview.unavailable", "the AI preview is not configured")
    chosen = (fields.get("preview_thread") or ["sample"])[0].strip()
    try:
        typed = {k: v for k, v in settings_from_form(fields).items() if k in AI_DRAFT_FIELDS}
        draft = parse_draft(typed)
    except SettingsInvalid as error:
        return render(request, "_ai_preview.html", page=scope, report=None,
                      problem=("settings.invalid", error.problems))  # fmt: skip
    saved = await current_settings(ctx, scope.team)
    changed = {k: v for k, v in draft.changes().items() if v != getattr(saved, k)}
    try:
        report = await ctx.ai_preview.run(
            scope.team,
            AiPreviewRequest(job_id=None if chosen in ("", "sample") else chosen[:200],
                             draft=AiDraft.model_validate(changed)),
            scope.principal.actor,
        )  # fmt: skip
    except HttpError as error:
        return render(request, "_ai_preview.html", page=scope, report=None,
                      problem=(error.code, error.message))  # fmt: skip
    reason = describe(report["fallback_reason"] or "")
    return render(request, "_ai_preview.html", page=scope, report=report, problem=None,
                  explain=reason.meaning if reason else None)  # fmt: skip


# --- inbound setup -----------------------------------------------------------------------------


@router.get("/t/{team}/inbound")
async def inbound(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    settings = await current_settings(ctx, scope.team)
    return render(
        request, "inbound.html", page=scope, nav="inbound", settings=settings,
        urls=admin.inbound_urls(ctx.public_ingest_url, scope.team),
        verification=await admin.latest_verification(ctx.auth.pool, scope.team),
        notion_token=await _notion_token_once(ctx, scope, settings),
    )  # fmt: skip


async def _notion_token_once(ctx: Context, scope: Scope, settings: TeamSettings) -> str | None:
    """Notion's verification token, to an admin, the first time the page is shown after the
    handshake (Notion asks for it back to verify the subscription); never again after."""
    if not (scope.is_admin and settings.notion_webhook_token_unseen and ctx.teams):
        return None
    token = await ctx.teams.get_secret(scope.team, "notion_webhook_token")
    await ctx.teams.change(scope.team, {"notion_webhook_token_unseen": False},
                           changed_by=scope.principal.actor)  # fmt: skip
    return token


# --- team and auth -----------------------------------------------------------------------------


async def team_page(request: Request, scope: Scope, ctx: Context, status: int = 200, **extra):
    context: dict[str, Any] = {
        "created": None,
        "flash": None,
        "lifetimes": TOKEN_LIFETIMES,
        "default_days": _days(ctx.token_policy.ttl),
        "grace_hours": ctx.token_policy.grace.total_seconds() / 3600,
    }
    if scope.is_admin:
        context["tokens"] = await tokens.list_tokens(ctx.auth.pool, scope.team)
        context["members"] = await tokens.list_members(ctx.auth.pool, scope.team)
    context.update(extra)
    name = "_team_body.html" if request.headers.get("hx-request") else "team.html"
    return render(request, name, status, page=scope, nav="team",
                  proxy_header=ctx.auth.proxy_user_header, **context)  # fmt: skip


def _days(ttl: timedelta | None) -> str:
    return "never" if ttl is None else f"{ttl.total_seconds() / 86400:g}"


@router.get("/t/{team}/audit")
async def audit_view(
    request: Request, scope: PageScope, ctx: PageContext, before: int | None = None
) -> HTMLResponse:
    scope.require_admin()
    entries = await audit.trail(ctx.auth.pool, scope.team, limit=100, before=before)
    return render(request, "audit.html", page=scope, nav="audit", entries=entries)


@router.get("/t/{team}/team")
async def team_view(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    return await team_page(request, scope, ctx)


@router.post("/t/{team}/tokens")
async def token_create(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    scope.require_admin()
    role = (fields.get("role") or ["member"])[0]
    name = (fields.get("name") or [""])[0].strip()[:100]
    try:
        issued = await tokens.issue_token(
            ctx.auth.pool, scope.team, role, name=name, created_by=scope.principal.actor,
            expires_in=form_lifetime(fields, ctx.token_policy.ttl),
        )  # fmt: skip
    except AuthError as error:
        return await team_page(request, scope, ctx, error.status,
                               flash=("error", error.code, error.message))  # fmt: skip
    return await team_page(request, scope, ctx, created=issued)


# The Expires choice of the token form, in days ("never" only when chosen).
TOKEN_LIFETIMES = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year",
                   "never": "never"}  # fmt: skip


def form_lifetime(fields: dict[str, list[str]], default: timedelta | None) -> timedelta | None:
    chosen = (fields.get("expires_in_days") or [""])[0].strip()
    if not chosen:
        return default
    if chosen == "never":
        return None
    try:
        return timedelta(days=float(chosen))
    except (ValueError, OverflowError) as error:
        raise HttpError(
            422, "token.bad_expiry", f"{chosen[:20]!r} is not a number of days"
        ) from error


@router.post("/t/{team}/tokens/{token_id}/rotate")
async def token_rotate(
    request: Request, scope: PageScope, ctx: PageContext, token_id: str
) -> HTMLResponse:
    await form_of(request, scope)
    scope.require_admin()
    try:
        issued = await tokens.rotate_token(
            ctx.auth.pool, scope.team, token_id, grace=ctx.token_policy.grace,
            expires_in=ctx.token_policy.ttl, actor=scope.principal.actor,
        )  # fmt: skip
    except AuthError as error:
        return await team_page(request, scope, ctx, error.status,
                               flash=("error", error.code, error.message))  # fmt: skip
    return await team_page(request, scope, ctx, created=issued)


@router.post("/t/{team}/tokens/{token_id}/revoke")
async def token_revoke(
    request: Request, scope: PageScope, ctx: PageContext, token_id: str
) -> HTMLResponse:
    await form_of(request, scope)
    scope.require_admin()
    done = await tokens.revoke_token(
        ctx.auth.pool, scope.team, token_id, actor=scope.principal.actor
    )
    flash_ = ("ok", "token.revoked", f"Token {token_id} revoked.") if done else (
        "error", "token.not_found", f"No active token {token_id}.")  # fmt: skip
    return await team_page(request, scope, ctx, 200 if done else 404, flash=flash_)


@router.post("/t/{team}/members")
async def member_set(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    fields = await form_of(request, scope)
    scope.require_admin()
    user = (fields.get("user") or [""])[0]
    action = (fields.get("action") or ["set"])[0]
    try:
        if action == "remove":
            await tokens.remove_member(ctx.auth.pool, scope.team, user,
                                       actor=scope.principal.actor)  # fmt: skip
        else:
            await tokens.set_member(ctx.auth.pool, scope.team, user,
                                    (fields.get("role") or ["member"])[0],
                                    scope.principal.actor)  # fmt: skip
    except AuthError as error:
        return await team_page(request, scope, ctx, error.status,
                               flash=("error", error.code, error.message))  # fmt: skip
    return await team_page(request, scope, ctx, flash=("ok", "member.saved", "Members updated."))


# --- the settings form -------------------------------------------------------------------------


CHECKBOXES = (
    "ai_enabled", "confirmations_enabled", "reactions_enabled", "thread_updates_enabled",
    "done_replies_enabled", "figma_resolve_completes_task",
)  # fmt: skip


def _lines(fields: dict[str, list[str]], name: str) -> list[str]:
    text = (fields.get(name) or [""])[0]
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def settings_from_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The settings form's fields as a settings patch (unknown fields are ignored)."""

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0]

    out: dict[str, Any] = {}
    if "name" in fields:
        out["name"] = one("name")
    if "tracked_mentions" in fields:
        out["tracked_mentions"] = [
            m.strip() for m in one("tracked_mentions").splitlines() if m.strip()
        ]
    if "figma_files" in fields:
        out["figma_files"] = _lines(fields, "figma_files")
    if "notion_database_id" in fields:
        out["notion_database_id"] = one("notion_database_id").strip() or None
    if "notion_field_mapping" in fields:
        mapping: dict[str, str] = {}
        for line in one("notion_field_mapping").splitlines():
            if not line.strip():
                continue
            prop, sep, task_field = line.rpartition("=")
            if not sep:
                raise SettingsInvalid(
                    f"notion_field_mapping: {line.strip()[:60]!r} is not `Notion property = "
                    "task field`"
                )
            mapping[prop.strip()] = task_field.strip()
        out["notion_field_mapping"] = mapping
    if "notion_targets" in fields:
        out["notion_targets"] = admin.targets_from_text(one("notion_targets"))
    if "notion_routes" in fields:
        out["notion_routes"] = admin.routes_from_text(one("notion_routes"))
    for name in ("ai_model", "ai_simple_model", "ai_instructions"):
        if name in fields:
            out[name] = one(name).strip() or None
    if "ai_simple_max_chars" in fields:
        size = one("ai_simple_max_chars").strip()
        try:
            out["ai_simple_max_chars"] = int(size) if size else None
        except ValueError as error:
            raise SettingsInvalid(
                f"ai_simple_max_chars: {size[:20]!r} is not a number of characters (0: no "
                "thread goes to the cheaper model; empty: the server's default)"
            ) from error
    if "ai_monthly_budget_usd" in fields:
        budget = one("ai_monthly_budget_usd").strip().lstrip("$")
        try:
            out["ai_monthly_budget_usd"] = Decimal(budget) if budget else None
        except InvalidOperation as error:
            raise SettingsInvalid(
                f"ai_monthly_budget_usd: {budget[:20]!r} is not an amount in USD"
            ) from error
    if "confirmation_template" in fields:
        out["confirmation_template"] = one("confirmation_template") or None
    if "recipient_addresses" in fields:
        out["recipient_addresses"] = _lines(fields, "recipient_addresses")
    if "figma_plan" in fields:
        out["figma_plan"] = one("figma_plan").strip().lower()
    if "figma_seat" in fields:
        out["figma_seat"] = one("figma_seat").strip().lower()
    if "figma_requests_per_minute" in fields:
        rate = one("figma_requests_per_minute").strip().removesuffix("/min").strip()
        try:
            out["figma_requests_per_minute"] = float(rate) if rate else None
        except ValueError as error:
            raise SettingsInvalid(
                f"figma_requests_per_minute: {rate[:20]!r} is not a number of requests per "
                "minute (leave it empty to follow the plan and seat)"
            ) from error
    if "allowed_networks" in fields:
        out["allowed_networks"] = _lines(fields, "allowed_networks")
    if "max_tasks_per_thread" in fields:
        most = one("max_tasks_per_thread").strip()
        if most not in {"1", "2", "3", "4", "5"}:
            raise SettingsInvalid(f"max_tasks_per_thread: {most[:20]!r} is not 1 to 5")
        out["max_tasks_per_thread"] = int(most)
    if "retention_days" in fields:
        days = one("retention_days").strip().removesuffix("days").strip()
        if days and not days.isdigit():
            raise SettingsInvalid(
                f"retention_days: {days[:20]!r} is not a whole number of days (leave it empty "
                "to keep job details until erased on request)"
            )
        out["retention_days"] = int(days) if days else None
    if "assignee_map" in fields:
        out["assignee_map"] = admin.assignee_csv(one("assignee_map"))
    if "notion_assignee_property" in fields:
        # Empty: find the property by itself; "-": never assign.
        prop = one("notion_assignee_property").strip()
        out["notion_assignee_property"] = "" if prop == "-" else (prop or None)
    if "assignee_match_threshold" in fields:
        threshold = one("assignee_match_threshold").strip()
        if not threshold.isdigit():
            raise SettingsInvalid(
                f"assignee_match_threshold: {threshold[:20]!r} is not a whole number from 0 to 100"
            )
        out["assignee_match_threshold"] = int(threshold)
    for text in ("done_template", "reopened_template", "notion_done_status"):
        if text in fields:
            out[text] = one(text).strip() or None
    if "form" in fields:  # checkboxes send nothing when unchecked
        for box in CHECKBOXES:
            out[box] = box in fields
    return out
