"""Rejections: a status, a stable code and a message that says what to do."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

log = structlog.get_logger("figsync.ingest")


class Rejected(Exception):
    """The request is refused; nothing was appended."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


_HTTP_CODES = {
    404: ("ingest.not_found", "no such endpoint; see /openapi.json"),
    405: ("ingest.method_not_allowed", "use POST"),
}


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as `{"error": {"code", "message"}}`, never as HTML or a bare detail."""

    async def rejected(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Rejected)
        return JSONResponse(
            error_body(error.code, error.message), error.status, headers=error.headers
        )

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        code, message = _HTTP_CODES.get(
            error.status_code, (f"ingest.http_{error.status_code}", str(error.detail))
        )
        return JSONResponse(
            error_body(code, message), error.status_code, headers=dict(error.headers or {})
        )

    async def validation_error(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(error_body("ingest.bad_request", str(error)), 400)

    async def store_unavailable(_: Request, error: Exception) -> JSONResponse:
        log.warning("event store unavailable; request refused with 503", error=str(error))
        return JSONResponse(
            error_body(
                "ingest.store_unavailable",
                "the event store cannot be reached right now; nothing was accepted — send the "
                "same request again shortly",
            ),
            503,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(Rejected, rejected)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    # A Postgres restart or failover: a retryable 503, not a 500 with a traceback.
    for unavailable in (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        ConnectionError,
        OSError,
    ):
        app.add_exception_handler(unavailable, store_unavailable)
