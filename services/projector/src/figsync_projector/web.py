"""The dashboard: server-rendered pages (Jinja2) made live with htmx and server-sent events.

Pages sit under /t/{team}/ and go through `page_scope`, the dashboard's counterpart of the API's
`team_scope`: a session (signed in with an API token) or a trusted proxy user, with a role in
the team. Every POST also needs the same site and the page's CSRF token.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from figsync_clients.budget import Budget, SharedBudgets
from figsync_clients.figma import PACE, team_per_minute, tier2_per_minute
from figsync_eventstore import EventStore
from figsync_projector import admin
from figsync_projector import auth as tokens
from figsync_projector.admin import NotionCheck, SettingsInvalid
from figsync_projector.auth import SESSION_COOKIE, Authenticator, AuthError, Principal
from figsync_projector.commands import CommandError, request_retry, request_sync
from figsync_projector.feed import ChangeFeed
from figsync_projector.fold import RETRYABLE, STATUSES
from figsync_projector.views import Views
from figsync_runtime.secrets import SecretKeyError
from figsync_runtime.teams import SECRET_NAMES, TEAM_ID, TeamError, TeamRepository, TeamSettings

HERE = Path(__file__).parent
PAGE_SIZE = 25
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
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
assert set(SECRET_LABELS) == SECRET_NAMES
FIGMA_PLAN_LABELS = {"starter": "Starter", "professional": "Professional",
                     "organization": "Organization", "enterprise": "Enterprise"}  # fmt: skip
FIGMA_SEAT_LABELS = {"view": "View", "collab": "Collab", "dev": "Dev", "full": "Full"}
assert tuple(FIGMA_PLAN_LABELS) == admin.FIGMA_PLANS
assert tuple(FIGMA_SEAT_LABELS) == admin.FIGMA_SEATS


@dataclass
class Dashboard:
    views: Views
    store: EventStore
    feed: ChangeFeed
    auth: Authenticator
    teams: TeamRepository
    notion_check: NotionCheck | None = None
    public_ingest_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool = True
    keepalive_seconds: float = 15.0


class PageError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class SignInRequired(Exception):
    pass


@dataclass(frozen=True)
class Page:
    """Who looks at which team's page."""

    team: str
    principal: Principal
    csrf: str

    @property
    def role(self) -> str:
        return self.principal.role(self.team) or ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else "—"
    env.filters["ms"] = _duration
    env.filters["usd"] = lambda v: f"${Decimal(v or 0):,.2f}"
    env.filters["percent"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    env.filters["num"] = _number
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return templates


def _duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _number(value: float) -> str:
    """A rate as people write it: 25, 23.75, 4.8 (small ones keep two significant digits)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "0" else f"{value:.2g}"


def mount_dashboard(app: FastAPI, dash: Dashboard) -> None:
    """Add the dashboard's pages, fragments, live stream and static files to the app."""
    templates = _templates()
    auth = dash.auth
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def render(request: Request, name: str, http_status: int = 200, /, **context: Any):
        response = templates.TemplateResponse(request, name, context, status_code=http_status)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        target = "/signin?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method == "GET":
            return RedirectResponse(target, status_code=303)
        return render(request, "error.html", 401, code="auth.signed_out",
                      message="your session ended; sign in again", page=None)  # fmt: skip

    @app.exception_handler(PageError)
    async def _page_error(request: Request, error: PageError) -> Response:
        name = "_flash.html" if request.headers.get("hx-request") else "error.html"
        return render(request, name, error.status, code=error.code, message=error.message,
                      kind="error", page=None)  # fmt: skip

    async def page_scope(team: str, request: Request) -> Page:
        principal = await auth.page_principal(request)
        if principal is None:
            raise SignInRequired()
        if not TEAM_ID.match(team) or principal.role(team) is None:
            raise PageError(404, "team.not_found", f"no team {team!r} (or not one of yours)")
        return Page(team, principal, auth.csrf_token(principal))

    Scoped = Annotated[Page, Depends(page_scope)]

    async def form_of(request: Request, page: Page | None) -> dict[str, list[str]]:
        """The posted form, after the same-site and CSRF checks (`page` None: sign-in)."""
        if not tokens.same_origin(request):
            raise PageError(403, "auth.cross_site", "a form from another site was refused")
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/x-www-form-urlencoded":
            raise PageError(415, "form.bad_type", "send the form as x-www-form-urlencoded")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise PageError(413, "form.too_large", f"forms are at most {MAX_FORM_BYTES} bytes")
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError) as error:
            raise PageError(400, "form.malformed", "the form could not be read") from error
        if page is not None:
            offered = request.headers.get("x-csrf-token") or (fields.get("csrf") or [""])[0]
            try:
                auth.check_csrf(page.principal, offered)
            except AuthError as error:
                raise PageError(error.status, error.code, error.message) from error
        return fields

    def require_admin(page: Page) -> None:
        if not page.is_admin:
            raise PageError(
                403, "auth.admin_required", f"only an admin of team {page.team!r} may do this"
            )

    router = APIRouter(include_in_schema=False)

    # --- signing in ----------------------------------------------------------------------------

    @router.get("/")
    async def home(request: Request) -> Response:
        principal = await auth.page_principal(request)
        if principal is None:
            return RedirectResponse("/signin", status_code=303)
        if len(principal.roles) == 1:
            return RedirectResponse(f"/t/{next(iter(principal.roles))}/", status_code=303)
        return RedirectResponse("/teams", status_code=303)

    @router.get("/signin")
    async def signin_form(request: Request, next: str = "") -> HTMLResponse:
        return render(request, "signin.html", next=_local(next), error=None, page=None)

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        fields = await form_of(request, None)
        token = (fields.get("token") or [""])[0]
        opened = await auth.open_session(token) if token else None
        if opened is None:
            return render(request, "signin.html", 401, page=None,
                          next=_local((fields.get("next") or [""])[0]),
                          error="auth.bad_token: that token is unknown, revoked or mistyped")  # fmt: skip
        cookie, principal = opened
        team = next(iter(principal.roles))
        target = _local((fields.get("next") or [""])[0]) or f"/t/{team}/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=int(auth.session_hours * 3600), httponly=True,
            samesite="strict", secure=dash.cookie_secure, path="/",
        )  # fmt: skip
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        if not tokens.same_origin(request):
            raise PageError(403, "auth.cross_site", "a form from another site was refused")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await auth.close_session(cookie)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=dash.cookie_secure)  # fmt: skip
        return response

    @router.get("/teams")
    async def teams_index(request: Request) -> HTMLResponse:
        principal = await auth.page_principal(request)
        if principal is None:
            raise SignInRequired()
        return render(request, "teams.html", principal=principal, page=None)

    # --- overview ------------------------------------------------------------------------------

    async def overview_context(page: Page) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "stats": await dash.views.stats(page.team, now),
            "errors": (await dash.views.errors(page.team))[:5],
            "costs": (await dash.views.costs(page.team))[:6],
        }

    @router.get("/t/{team}/")
    async def overview(request: Request, page: Scoped) -> HTMLResponse:
        return render(request, "overview.html", page=page, nav="overview",
                      **await overview_context(page))  # fmt: skip

    @router.get("/t/{team}/fragments/stats")
    async def stats_fragment(request: Request, page: Scoped) -> HTMLResponse:
        return render(request, "_stats.html", page=page, **await overview_context(page))

    # --- jobs ----------------------------------------------------------------------------------

    async def jobs_context(page: Page, status: str, number: int) -> dict[str, Any]:
        if status and status not in STATUSES:
            raise PageError(422, "jobs.bad_status", f"unknown status {status!r}")
        items, total = await dash.views.jobs(
            page.team, [status] if status else None, PAGE_SIZE, (number - 1) * PAGE_SIZE
        )
        pages = max(1, -(-total // PAGE_SIZE))
        return {"jobs": items, "total": total, "status": status, "number": number,
                "pages": pages, "statuses": STATUSES}  # fmt: skip

    @router.get("/t/{team}/jobs")
    async def jobs(
        request: Request,
        page: Scoped,
        status: str = "",
        p: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> HTMLResponse:
        context = await jobs_context(page, status, p)
        name = "_jobs_table.html" if request.headers.get("hx-target") == "jobs" else "jobs.html"
        return render(request, name, page=page, nav="jobs", **context)

    @router.get("/t/{team}/jobs/{job_id}")
    async def job(request: Request, page: Scoped, job_id: str) -> HTMLResponse:
        found = await dash.views.job(page.team, job_id)
        if found is None:
            raise PageError(404, "job.not_found", f"no job {job_id!r} in team {page.team!r}")
        timeline = await dash.views.timeline(page.team, job_id)
        name = "_job_detail.html" if request.headers.get("hx-target") == "detail" else "job.html"
        return render(request, name, page=page, nav="jobs", job=found, timeline=timeline,
                      retryable=found["status"] in RETRYABLE)  # fmt: skip

    @router.post("/t/{team}/jobs/{job_id}/retry")
    async def retry(request: Request, page: Scoped, job_id: str) -> HTMLResponse:
        await form_of(request, page)
        try:
            done = await request_retry(
                dash.store, job_id, team=page.team, requested_by=page.principal.actor
            )
        except CommandError as error:
            return render(request, "_flash.html", error.status, kind="error", code=error.code,
                          message=error.message, page=page)  # fmt: skip
        return render(request, "_flash.html", 202, kind="ok", code="job.retry_requested",
                      message=f"Retry requested from step {done.step}; the timeline updates "
                      "as it runs.", page=page)  # fmt: skip

    @router.post("/t/{team}/sync")
    async def sync(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        raw = (fields.get("file") or [""])[0]
        try:
            key = admin.file_key_of(raw)
            done = await request_sync(dash.store, page.team, key,
                                      requested_by=page.principal.actor)  # fmt: skip
        except ValueError as error:
            return render(request, "_flash.html", 422, kind="error", code="sync.bad_file_key",
                          message=str(error), page=page)  # fmt: skip
        except CommandError as error:
            return render(request, "_flash.html", error.status, kind="error", code=error.code,
                          message=error.message, page=page)  # fmt: skip
        return render(request, "_flash.html", 202, kind="ok", code="sync.requested",
                      message=f"Manual sync of {done.file_key} started ({done.sync_id}); "
                      "new jobs appear below as comments are found.", page=page)  # fmt: skip

    @router.get("/t/{team}/live")
    async def live(request: Request, page: Scoped, status: str = "") -> StreamingResponse:
        start = await dash.views.team_position(page.team)
        last = request.headers.get("last-event-id", "")
        if last.isdigit():
            start = int(last)
        return StreamingResponse(
            _rows(dash, templates, request, page, status, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # --- settings ------------------------------------------------------------------------------

    def refused_form(
        request: Request, page: Page, status: int, code: str, message: str
    ) -> HTMLResponse | None:
        """For htmx: only the error, into the page's flash slot, so what was typed stays."""
        if not request.headers.get("hx-request"):
            return None
        response = render(request, "_flash.html", status, page=page, kind="error", code=code,
                          message=message)  # fmt: skip
        response.headers.update({"HX-Retarget": "#form-flash", "HX-Reswap": "innerHTML"})
        return response

    async def figma_budget(team: str, current: TeamSettings) -> dict[str, Any]:
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
            token = await dash.teams.get_secret(team, "figma_token")
        except SecretKeyError as error:  # sealed with another key, or altered: no usage
            return {**budget, "problem": str(error)}
        if not token:
            return budget
        shared = Budget.for_secret("figma", token, per_minute * PACE)
        use = await SharedBudgets(dash.auth.pool).usage(shared)
        return {**budget, "token": True, "use": use, "share": use["last_minute"] / per_minute}

    async def settings_page(
        request: Request, page: Page, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        current = await dash.teams.get(page.team) or TeamSettings(team=page.team)
        context = {
            "settings": current,
            "secret_labels": SECRET_LABELS,
            "flash": None,
            "figma_plans": FIGMA_PLAN_LABELS,
            "figma_seats": FIGMA_SEAT_LABELS,
            "figma_budget": await figma_budget(page.team, current),
        }
        context.update(extra)
        name = "_settings_body.html" if request.headers.get("hx-request") else "settings.html"
        return render(request, name, status, page=page, nav="settings", **context)

    @router.get("/t/{team}/settings")
    async def settings_view(request: Request, page: Scoped) -> HTMLResponse:
        return await settings_page(request, page)

    @router.get("/t/{team}/fragments/figma-budget")
    async def figma_budget_fragment(request: Request, page: Scoped) -> HTMLResponse:
        current = await dash.teams.get(page.team) or TeamSettings(team=page.team)
        return render(request, "_figma_budget.html", page=page,
                      figma_budget=await figma_budget(page.team, current))  # fmt: skip

    @router.post("/t/{team}/settings")
    async def settings_save(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        require_admin(page)
        try:
            patch = admin.parse_patch(_settings_from_form(fields))
            await dash.teams.change(page.team, patch.changes(), changed_by=page.principal.actor)
        except (SettingsInvalid, TeamError) as error:
            message = error.problems if isinstance(error, SettingsInvalid) else str(error)
            return refused_form(request, page, 422, "settings.invalid", message) or (
                await settings_page(
                    request, page, 422, flash=("error", "settings.invalid", message)
                )  # fmt: skip
            )
        return await settings_page(request, page, flash=("ok", "settings.saved", "Saved."))

    @router.post("/t/{team}/secrets")
    async def secrets_save(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        require_admin(page)
        given = {
            name: values[0]
            for name, values in fields.items()
            if name in SECRET_NAMES and values and values[0].strip()
        }
        if not given:
            return await settings_page(request, page, 422, flash=(
                "error", "secrets.none", "Type a new value in at least one secret field."))  # fmt: skip
        try:
            values = admin.check_secrets(given)
            await dash.teams.change(page.team, {}, secrets=values,
                                    changed_by=page.principal.actor)  # fmt: skip
        except (SettingsInvalid, TeamError) as error:
            message = error.problems if isinstance(error, SettingsInvalid) else str(error)
            return refused_form(request, page, 422, "secrets.invalid", message) or (
                await settings_page(
                    request, page, 422, flash=("error", "secrets.invalid", message)
                )  # fmt: skip
            )
        names = ", ".join(SECRET_LABELS[n] for n in sorted(values))
        return await settings_page(request, page, flash=("ok", "secrets.saved",
                                                         f"Saved: {names}."))  # fmt: skip

    @router.post("/t/{team}/settings/notion-check")
    async def notion_check(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        require_admin(page)
        if dash.notion_check is None:
            raise PageError(503, "notion.check_unavailable", "the notion check is not configured")
        try:
            draft = admin.parse_patch(
                {
                    k: v
                    for k, v in _settings_from_form(fields).items()
                    if k in ("notion_database_id", "notion_field_mapping")
                }  # fmt: skip
            )
        except SettingsInvalid as error:
            report = {"ok": False, "errors": 1, "lines": [f"  error  {error.problems}"]}
        else:
            report = await dash.notion_check.run(
                page.team, draft.notion_database_id, draft.notion_field_mapping
            )
        return render(request, "_notion_report.html", page=page, report=report)

    # --- inbound setup -------------------------------------------------------------------------

    @router.get("/t/{team}/inbound")
    async def inbound(request: Request, page: Scoped) -> HTMLResponse:
        current = await dash.teams.get(page.team) or TeamSettings(team=page.team)
        return render(
            request, "inbound.html", page=page, nav="inbound", settings=current,
            urls=admin.inbound_urls(dash.public_ingest_url, page.team),
            verification=await admin.latest_verification(dash.auth.pool, page.team),
        )  # fmt: skip

    # --- team and auth -------------------------------------------------------------------------

    async def team_page(request: Request, page: Page, status: int = 200, **extra: Any):
        context: dict[str, Any] = {"created": None, "flash": None}
        if page.is_admin:
            context["tokens"] = await tokens.list_tokens(auth.pool, page.team)
            context["members"] = await tokens.list_members(auth.pool, page.team)
        context.update(extra)
        name = "_team_body.html" if request.headers.get("hx-request") else "team.html"
        return render(request, name, status, page=page, nav="team",
                      proxy_header=auth.proxy_user_header, **context)  # fmt: skip

    @router.get("/t/{team}/team")
    async def team_view(request: Request, page: Scoped) -> HTMLResponse:
        return await team_page(request, page)

    @router.post("/t/{team}/tokens")
    async def token_create(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        require_admin(page)
        role = (fields.get("role") or ["member"])[0]
        name = (fields.get("name") or [""])[0].strip()[:100]
        try:
            issued = await tokens.issue_token(auth.pool, page.team, role, name=name,
                                              created_by=page.principal.actor)  # fmt: skip
        except AuthError as error:
            return await team_page(request, page, error.status,
                                   flash=("error", error.code, error.message))  # fmt: skip
        return await team_page(request, page, created=issued)

    @router.post("/t/{team}/tokens/{token_id}/revoke")
    async def token_revoke(request: Request, page: Scoped, token_id: str) -> HTMLResponse:
        await form_of(request, page)
        require_admin(page)
        done = await tokens.revoke_token(auth.pool, page.team, token_id)
        flash = ("ok", "token.revoked", f"Token {token_id} revoked.") if done else (
            "error", "token.not_found", f"No active token {token_id}.")  # fmt: skip
        return await team_page(request, page, 200 if done else 404, flash=flash)

    @router.post("/t/{team}/members")
    async def member_set(request: Request, page: Scoped) -> HTMLResponse:
        fields = await form_of(request, page)
        require_admin(page)
        user = (fields.get("user") or [""])[0]
        action = (fields.get("action") or ["set"])[0]
        try:
            if action == "remove":
                await tokens.remove_member(auth.pool, page.team, user)
            else:
                await tokens.set_member(auth.pool, page.team, user,
                                        (fields.get("role") or ["member"])[0],
                                        page.principal.actor)  # fmt: skip
        except AuthError as error:
            return await team_page(request, page, error.status,
                                   flash=("error", error.code, error.message))  # fmt: skip
        return await team_page(request, page, flash=("ok", "member.saved", "Members updated."))

    app.include_router(router)


def _local(target: str) -> str:
    """Only same-site paths are followed after signing in (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return ""


def _lines(fields: dict[str, list[str]], name: str) -> list[str]:
    text = (fields.get(name) or [""])[0]
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _settings_from_form(fields: dict[str, list[str]]) -> dict[str, Any]:
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
    if "ai_model" in fields:
        out["ai_model"] = one("ai_model").strip() or None
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
    if "form" in fields:  # checkboxes send nothing when unchecked
        out["ai_enabled"] = "ai_enabled" in fields
        out["confirmations_enabled"] = "confirmations_enabled" in fields
    return out


async def _rows(
    dash: Dashboard,
    templates: Jinja2Templates,
    request: Request,
    page: Page,
    status: str,
    position: int,
) -> AsyncIterator[str]:
    """The Jobs page's live stream: each changed job as a rendered table row."""
    row = templates.env.get_template("_job_row.html")
    yield "retry: 3000\n\n"
    while not dash.feed.closed:
        if await request.is_disconnected():
            return
        if page.principal.via == "session" and not await dash.auth.page_principal(request):
            yield "event: signed-out\ndata: \n\n"
            return
        waiter = dash.feed.waiter()
        changes = await dash.views.changed_jobs(page.team, position, 100)
        for job in changes:
            position = job["last_position"]
            html = row.render(job=job, page=page, live=True,
                              matches=not status or job["status"] == status)  # fmt: skip
            data = "".join(f"data: {line}\n" for line in html.strip().splitlines())
            yield f"id: {position}\nevent: job\n{data}\n"
        if len(changes) == 100:
            continue
        if not await dash.feed.wait(waiter, dash.keepalive_seconds):
            yield ": keep-alive\n\n"
        await asyncio.sleep(0)
