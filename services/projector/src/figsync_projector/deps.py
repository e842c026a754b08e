"""What every HTTP route of the projector shares: its context, the one team-scope dependency,
and the one refusal type with its one exception handler.

A route names its surface by the scope it depends on: `ApiScope` (a bearer token or a trusted
proxy's user header; JSON refusals) or `PageScope` (a dashboard session or the proxy; HTML
refusals, a redirect to sign in). Both admit a request to a team only with a role in it, and
answer 404 `team.not_found` for any other team as if it did not exist; then only from the
team's allowed networks (403 `access.network_refused`), and on the API within the token's rate
(429 `api.rate_limited`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from figsync_eventstore import EventStore
from figsync_projector.access import Access
from figsync_projector.admin import NotionCheck
from figsync_projector.ai_preview import AiPreview
from figsync_projector.auth import Authenticator, Principal, TokenPolicy, same_origin
from figsync_projector.errors import HttpError
from figsync_projector.feed import ChangeFeed
from figsync_projector.views import Views
from figsync_runtime.teams import TEAM_ID, TeamRepository

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What the routes of one surface read and write through."""

    views: Views
    store: EventStore
    feed: ChangeFeed
    auth: Authenticator
    teams: TeamRepository | None = None
    notion_check: NotionCheck | None = None
    ai_preview: AiPreview | None = None
    public_ingest_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool = True
    keepalive_seconds: float = 15.0
    clock: Clock = field(default=_now)
    # A tracing UI's address of one trace, with a `{trace_id}` placeholder (None: no link).
    tracing_ui_url: str | None = None
    access: Access = field(default_factory=Access)
    token_policy: TokenPolicy = field(default_factory=TokenPolicy)


class SignInRequired(HttpError):
    def __init__(self) -> None:
        super().__init__(401, "auth.signed_out", "your session ended; sign in again")


@dataclass(frozen=True)
class Scope:
    """Who asks about which team (and the CSRF token their pages carry)."""

    team: str
    principal: Principal
    csrf: str = ""

    @property
    def role(self) -> str:
        return self.principal.role(self.team) or ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise HttpError(
                403, "auth.admin_required", f"only an admin of team {self.team!r} may do this"
            )


def api_context(request: Request) -> Context:
    return request.app.state.api


def page_context(request: Request) -> Context:
    return request.app.state.dashboard


class TeamScope:
    """The one dependency that admits a request to a team, for the API or the dashboard."""

    def __init__(self, surface: Literal["api", "page"], *, admin: bool = False) -> None:
        self.surface, self.admin = surface, admin

    async def __call__(self, team: str, request: Request) -> Scope:
        ctx = api_context(request) if self.surface == "api" else page_context(request)
        if self.surface == "api":
            auth = ctx.auth
            principal = await auth.api_principal(request)
            if principal.ambient and request.method not in SAFE_METHODS:
                if not same_origin(request):
                    raise HttpError(
                        403, "auth.cross_site", "a command from another site was refused"
                    )
        else:
            auth = ctx.auth
            found = await auth.page_principal(request)
            if found is None:
                raise SignInRequired()
            principal = found
        if not TEAM_ID.match(team) or principal.role(team) is None:
            raise HttpError(404, "team.not_found", f"no team {team!r} (or not one of yours)")
        await ctx.access.check_network(request, team, ctx.teams)
        if self.surface == "api":
            await ctx.access.take(principal)
        scope = Scope(team, principal, auth.csrf_token(principal))
        if self.admin:
            scope.require_admin()
        return scope


ApiScope = Annotated[Scope, Depends(TeamScope("api"))]
AdminScope = Annotated[Scope, Depends(TeamScope("api", admin=True))]
PageScope = Annotated[Scope, Depends(TeamScope("page"))]
ApiContext = Annotated[Context, Depends(api_context)]
PageContext = Annotated[Context, Depends(page_context)]

# The dashboard renders its refusals as pages; the API (and anything else) as JSON.
PageRefusal = Callable[[Request, HttpError], Awaitable[Response]]


def is_page(request: Request) -> bool:
    return getattr(request.app.state, "page_refusal", None) is not None and not (
        request.url.path.startswith(("/api/", "/openapi.json", "/docs", "/redoc"))
    )


async def refused(request: Request, error: Exception) -> Response:
    """The one exception handler: every refusal, in its surface's shape."""
    if isinstance(error, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        error = HttpError(422, "request.invalid", problems)
    elif isinstance(error, StarletteHTTPException):
        # Unknown routes, wrong methods: the same error shape as every other refusal.
        code = {404: "route.not_found", 405: "route.method_not_allowed"}.get(
            error.status_code, "request.refused"
        )
        error = HttpError(error.status_code, code, str(error.detail), error.headers)
    elif is_page(request):  # framework refusals stay JSON on every surface
        return await request.app.state.page_refusal(request, error)
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}},
        status_code=error.status,
        headers=error.headers,
    )


def install_refusals(app: FastAPI) -> None:
    for kind in (HttpError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(kind, refused)
