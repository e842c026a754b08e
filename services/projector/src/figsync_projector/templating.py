"""The dashboard's Jinja templates, their filters, and `render` (with the security headers)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
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


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=HERE / "templates")
    env = found.env
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else "—"
    env.filters["ms"] = duration
    env.filters["usd"] = usd
    env.filters["percent"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    env.filters["num"] = number
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return found


def render(request: Request, name: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
    response = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=http_status
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def usd(value: Decimal | float | str | None) -> str:
    """Dollars and cents; an amount under a cent (a Haiku summary costs a hundredth of one)
    with the digits that tell it apart from nothing."""
    amount = Decimal(value or 0)
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        return f"${amount:,.2f}"
    if abs(amount) < Decimal("0.000001"):
        return "<$0.000001"
    return f"${amount:.6f}".rstrip("0")


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def number(value: float) -> str:
    """A rate as people write it: 25, 23.75, 4.8 (small ones keep two significant digits)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "0" else f"{value:.2g}"
