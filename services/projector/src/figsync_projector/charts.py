"""The overview's charts, drawn on the server as SVG from the views.

Hand-written (this module's geometry and `_chart.html`) rather than pygal: pygal's SVG carries
inline styles and scripts that the dashboard's Content-Security-Policy refuses, and four bar
and line charts are a hundred lines. Every mark has a `<title>` (its day, series and value) and
`data-` attributes, so the numbers can be read by people and by tests.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from figsync_clients.figma import team_per_minute
from figsync_projector.deps import Context
from figsync_projector.templating import duration
from figsync_runtime.teams import TeamSettings

DAYS = 30
WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 22


@dataclass
class Mark:
    """One bar (segment) or point of a chart."""

    series: str
    day: date
    value: float
    label: str
    x: float
    y: float
    w: float = 0.0
    h: float = 0.0


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    ticks: list[tuple[float, str]] = field(default_factory=list)
    days: list[tuple[float, str]] = field(default_factory=list)
    bars: list[Mark] = field(default_factory=list)
    dots: list[Mark] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)
    rules: list[tuple[str, float, str]] = field(default_factory=list)  # series, y, label
    legend: list[tuple[str, str]] = field(default_factory=list)
    caption: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    empty: bool = False


class Frame:
    """Maps days and values to the chart's pixels."""

    def __init__(self, days: Sequence[date], top_value: float) -> None:
        self.days = list(days)
        self.step = (WIDTH - LEFT - RIGHT) / max(1, len(self.days))
        self.top = nice(top_value)

    def x(self, index: int) -> float:
        return LEFT + index * self.step

    def y(self, value: float) -> float:
        return round(HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * value / self.top, 2)

    def axes(self, chart: Chart, fmt: Callable[[float], str]) -> None:
        chart.ticks = [(self.y(self.top * i / 4), fmt(self.top * i / 4)) for i in range(5)]
        every = max(1, math.ceil(len(self.days) / 6))
        chart.days = [
            (round(self.x(i) + self.step / 2, 2), d.strftime("%b %d"))
            for i, d in enumerate(self.days)
            if (len(self.days) - 1 - i) % every == 0
        ]


def nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def stacked(chart: Chart, frame: Frame, rows: dict[date, dict[str, float]],
            series: Sequence[tuple[str, str]], fmt: Callable[[float], str]) -> None:  # fmt: skip
    """Bars per day, the series stacked bottom up; each segment titled with its value."""
    width = max(1.0, frame.step * 0.7)
    for i, day in enumerate(frame.days):
        base = 0.0
        for name, label in series:
            value = float(rows.get(day, {}).get(name, 0) or 0)
            if value <= 0:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            chart.bars.append(Mark(name, day, value, f"{day}: {fmt(value)} {label}",
                                   round(frame.x(i) + frame.step * 0.15, 2), top,
                                   round(width, 2), round(bottom - top, 2)))  # fmt: skip
            base += value
    chart.legend = list(series)


def line(chart: Chart, frame: Frame, points: dict[date, float], name: str, label: str,
         fmt: Callable[[float], str]) -> None:  # fmt: skip
    xy = []
    for i, day in enumerate(frame.days):
        if day not in points:
            continue
        x, y = round(frame.x(i) + frame.step / 2, 2), frame.y(points[day])
        xy.append(f"{x},{y}")
        chart.dots.append(Mark(name, day, points[day], f"{day}: {label} {fmt(points[day])}", x, y))
    chart.lines.append((name, " ".join(xy)))
    chart.legend.append((name, label))


def window(today: date, days: int = DAYS) -> list[date]:
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:,.4f}"


async def overview_charts(team: str, ctx: Context) -> dict[str, Chart]:
    """The four charts of the overview, over the last 30 UTC days."""
    days = window(ctx.clock().date())
    since, until = days[0], days[-1]
    settings = (await ctx.teams.get(team) if ctx.teams else None) or TeamSettings(team=team)
    daily = {row["day"]: row for row in await ctx.views.daily(team, since, until)}
    outcomes = {row["day"]: row for row in await ctx.views.outcomes(team, since, until)}
    processing = {row["day"]: row for row in await ctx.views.processing(team, since, until)}
    month_cost = await ctx.views.month_cost(team, until)
    return {
        "outcomes": outcomes_chart(days, outcomes),
        "processing": processing_chart(days, processing),
        "cost": cost_chart(days, daily, settings.ai_monthly_budget_usd, month_cost),
        "calls": calls_chart(days, daily, team_per_minute(settings)),
    }


OUTCOMES = (("completed", "completed"), ("ignored", "ignored"), ("failed", "failed"),
            ("open", "in progress"))  # fmt: skip


def outcomes_chart(days: list[date], rows: dict[date, dict[str, Any]]) -> Chart:
    chart = Chart("outcomes", "Jobs per day by outcome", "jobs")
    frame = Frame(days, max((r["jobs"] for r in rows.values()), default=0))
    frame.axes(chart, _count)
    stacked(chart, frame, rows, OUTCOMES, _count)
    total = sum(r["jobs"] for r in rows.values())
    parts = {name: sum(r[name] for r in rows.values()) for name, _ in OUTCOMES}
    chart.caption = f"{total} jobs created: " + ", ".join(
        f"{parts[name]} {label}" for name, label in OUTCOMES
    )
    chart.empty = total == 0
    return chart


def processing_chart(days: list[date], rows: dict[date, dict[str, Any]]) -> Chart:
    chart = Chart("processing", "Processing time per day (completed jobs)", "ms")
    frame = Frame(days, max((float(r["p95"]) for r in rows.values()), default=0))
    frame.axes(chart, duration)
    line(chart, frame, {d: float(r["p50"]) for d, r in rows.items()}, "p50", "p50", duration)
    line(chart, frame, {d: float(r["p95"]) for d, r in rows.items()}, "p95", "p95", duration)
    chart.caption = (
        f"{sum(r['jobs'] for r in rows.values())} completed jobs, by the day they finished"
    )
    chart.empty = not rows
    return chart


def cost_chart(days: list[date], rows: dict[date, dict[str, Any]], budget: Decimal | None,
               month_cost: Decimal) -> Chart:  # fmt: skip
    chart = Chart("cost", "AI cost per day", "USD")
    costs = {d: {"cost": float(r["cost_usd"])} for d, r in rows.items()}
    today = days[-1]
    per_day = float(budget) / calendar.monthrange(today.year, today.month)[1] if budget else None
    frame = Frame(days, max([c["cost"] for c in costs.values()] + [per_day or 0]))
    frame.axes(chart, _usd)
    stacked(chart, frame, costs, (("cost", "AI cost"),), _usd)
    if per_day is not None:
        chart.rules.append(("budget", frame.y(per_day), f"budget pace {_usd(per_day)} a day"))
        chart.legend.append(("budget", "budget pace"))
        share = float(month_cost) / float(budget) if budget else 0.0
        chart.caption = (f"This month {_usd(float(month_cost))} of the {_usd(float(budget))} "
                         f"budget ({share * 100:.1f} %)")  # fmt: skip
    else:
        chart.caption = f"This month {_usd(float(month_cost))}; no monthly budget is set"
    chart.empty = not any(c["cost"] for c in costs.values())
    return chart


PROVIDERS = (("figma_calls", "Figma"), ("notion_calls", "Notion"), ("ai_calls", "Anthropic"))


def calls_chart(days: list[date], rows: dict[date, dict[str, Any]], figma_per_minute: float):
    chart = Chart("calls", "API calls per day by provider", "calls")
    totals = {d: sum(r[name] for name, _ in PROVIDERS) for d, r in rows.items()}
    frame = Frame(days, max(totals.values(), default=0))
    frame.axes(chart, _count)
    stacked(chart, frame, rows, PROVIDERS, _count)
    day_budget = figma_per_minute * 1440
    for mark in chart.bars:
        if mark.series == "figma_calls":
            mark.label += f" ({mark.value / day_budget * 100:.2f} % of the day's Figma budget)"
    busiest = max((r["figma_calls"] for r in rows.values()), default=0)
    chart.caption = (
        f"Figma budget {figma_per_minute:g}/min = {day_budget:,.0f} calls a day; the busiest "
        f"day used {busiest / day_budget * 100:.2f} %"
    )
    chart.empty = not any(totals.values())
    return chart
