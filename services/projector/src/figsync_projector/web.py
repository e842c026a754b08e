"""The dashboard: server-rendered pages (Jinja2) made live with htmx and server-sent events.

Its routes are modules of routers over the shared dependencies of `deps.py`: `pages` (pages and
the forms they post), `fragments` (the parts htmx refreshes), `exports` (the filtered jobs as
CSV and JSON) and `sse` (the live rows). Pages sit under /t/{team}/ and depend on `PageScope`:
a session (signed in with an API token) or a trusted proxy user, with a role in the team.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from figsync_projector import exports, fragments, pages, sse
from figsync_projector.deps import Context, HttpError, SignInRequired, install_refusals
from figsync_projector.templating import HERE, render, templates

# What the dashboard reads and writes through: the API's context plus the page settings
# (public ingest URL, secure cookies, the tracing UI).
Dashboard = Context


def mount_dashboard(app: FastAPI, dash: Dashboard) -> None:
    """Add the dashboard's pages, fragments, downloads, live stream and static files."""
    app.state.dashboard = dash
    app.state.templates = templates()
    app.state.page_refusal = page_refusal
    install_refusals(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (exports.router, fragments.router, sse.page_router, pages.router):
        app.include_router(router)


async def page_refusal(request: Request, error: HttpError) -> Response:
    """A refusal on a page: sign in again, or the error as a page (or a flash, for htmx)."""
    if isinstance(error, SignInRequired):
        return pages.sign_in_again(request)
    name = "_flash.html" if request.headers.get("hx-request") else "error.html"
    return render(request, name, error.status, code=error.code, message=error.message,
                  kind="error", page=None)  # fmt: skip
