"""The parts of pages that htmx refreshes on its own: the overview's figures and charts, the
Figma budget card."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from figsync_projector.charts import overview_charts
from figsync_projector.deps import PageContext, PageScope
from figsync_projector.pages import current_settings, figma_budget, overview_context
from figsync_projector.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/t/{team}/fragments/stats")
async def stats(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    return render(request, "_stats.html", page=scope, **await overview_context(scope, ctx))


@router.get("/t/{team}/fragments/charts")
async def charts(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    return render(
        request, "_charts.html", page=scope, charts=await overview_charts(scope.team, ctx)
    )


@router.get("/t/{team}/fragments/figma-budget")
async def figma_budget_card(request: Request, scope: PageScope, ctx: PageContext) -> HTMLResponse:
    current = await current_settings(ctx, scope.team)
    return render(request, "_figma_budget.html", page=scope,
                  figma_budget=await figma_budget(ctx, scope.team, current))  # fmt: skip
