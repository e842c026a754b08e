"""structlog JSON logs with trace id and job id, and e-mail addresses and tokens redacted.

One format for everything a process prints: structlog, the standard library's loggers
(FastStream, uvicorn, nats-py, asyncio, OpenTelemetry), warnings, and uncaught exceptions
(main thread, other threads, the asyncio loop, "Exception ignored in") all go through the same
renderer, with the traceback in the "exception" field instead of printed raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog
from opentelemetry import trace

_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]{1,64})@([\w-]+(?:\.[\w-]+)+)")
_TOKENS = re.compile(
    r"\b(?:figd_|figu_|ntn_|sk-ant-[\w-]*|whsec_|xox[abp]-)[\w-]{6,}"
    # Notion's legacy tokens are secret_ and 43 letters or digits; not a code like
    # settings.secret_key_missing, which an uncaught exception's record must keep.
    r"|\bsecret_[A-Za-z0-9]{20,}"
    r"|(?i:bearer)\s+[\w.~+/-]{8,}=*"
    r"|(?i:(?:token|passcode|password|api[_-]?key|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]{4,}"
)
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it shows up in a log line."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """The text with known secrets, token-shaped strings and e-mail addresses masked."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    text = _TOKENS.sub("[REDACTED]", text)
    return _EMAIL.sub(lambda m: f"***@{m.group(2)}", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact_processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: _redact_value(value) for key, value in event_dict.items()}


def add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event_dict.setdefault("trace_id", format(span.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span.span_id, "016x"))
    return event_dict


# Libraries that give their loggers handlers of their own: FastStream writes coloured text to
# stdout/stderr from "faststream" (at import) and "faststream.access.<broker>" (at connect).
ADOPTED_LOGGERS = (
    "faststream",
    "faststream.access",
    "faststream.access.nats",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "nats",
    "asyncio",
    "py.warnings",
)
# What FastStream passes in `extra` of its records (the subscriber and message it is about).
FASTSTREAM_FIELDS = ("subject", "stream", "queue", "message_id")

_service: str | None = None


def _uncaught_log() -> Any:
    return structlog.stdlib.get_logger("figsync.uncaught")


def adopt_logger(name: str) -> logging.Logger:
    """The stdlib logger `name` with its own handlers removed, propagating to the root handler
    at the root's level (so it is rendered like every other line)."""
    logger = logging.getLogger(name)
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)
    return logger


def _writes_to_console(handler: logging.Handler) -> bool:
    consoles = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}
    return (
        isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and id(handler.stream) in consoles
    )


def _adopt_console_loggers() -> None:
    for name in ADOPTED_LOGGERS:
        adopt_logger(name)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            console = [h for h in logger.handlers if _writes_to_console(h)]
            for handler in console:
                logger.removeHandler(handler)
            if console:
                logger.propagate = True


def add_service(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # From a global, not only a context variable: threads (the span exporter,
    # threading.excepthook) and callbacks run outside the context configure_logging ran in.
    if _service is not None:
        event_dict.setdefault("service", _service)
    return event_dict


def add_faststream_context(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    record = event_dict.get("_record")
    for key in FASTSTREAM_FIELDS:
        value = getattr(record, key, None)
        if value and isinstance(value, str | int):
            event_dict.setdefault(key, value)
    return event_dict


class _Handler(logging.StreamHandler):
    """A stream handler whose own failures (a record that cannot be formatted) are one JSON
    line too, instead of the standard library's "--- Logging error ---" traceback."""

    def __init__(self, service: str, json_lines: bool) -> None:
        super().__init__(sys.stderr)
        self.service = service
        self.json_lines = json_lines

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.json_lines:
            super().handleError(record)
            return
        try:
            line = json.dumps({
                "event": "log record could not be formatted",
                "service": self.service,
                "level": "error",
                "logger": record.name,
                "record_level": record.levelname.lower(),
                "msg": redact(repr(record.msg))[:2000],
                "exception": redact(traceback.format_exc())[-8000:],
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            })  # fmt: skip
            self.stream.write(line + "\n")
            self.flush()
        except Exception:  # the stream itself is gone: nothing left to tell
            pass


def _log_excepthook(
    exc_type: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    try:
        _uncaught_log().critical("uncaught exception", exc_info=(exc_type, value, tb))
    except Exception:
        sys.__excepthook__(exc_type, value, tb)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as the default hook: a thread may end itself that way
        return
    try:
        _uncaught_log().error(
            "uncaught exception in thread",
            thread=args.thread.name if args.thread else None,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    except Exception:
        threading.__excepthook__(args)


def _log_unraisable(args: Any) -> None:
    try:
        _uncaught_log().error(
            args.err_msg or "Exception ignored in",
            object=_short_repr(args.object),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    except Exception:
        sys.__unraisablehook__(args)


def _short_repr(value: Any, limit: int = 500) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not lose the log line
        text = f"<unrepresentable {type(value).__name__}: {error!r}>"
    return text[:limit]


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An asyncio exception handler ("Task exception was never retrieved", an exception in a
    callback) that logs one line with the context's objects as fields."""
    fields: dict[str, Any] = {}
    for key, value in context.items():
        if key in {"message", "exception"}:
            continue
        if key == "source_traceback" and isinstance(value, list):
            fields[key] = "".join(traceback.format_list(value))
        else:
            fields[key] = _short_repr(value)
    error = context.get("exception")
    try:
        _uncaught_log().error(
            context.get("message") or "unhandled exception in event loop",
            exc_info=error if isinstance(error, BaseException) else None,
            **fields,
        )
    except Exception:
        loop.default_exception_handler(context)


def log_loop_exceptions(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Route the (running) event loop's unhandled exceptions through the log renderer."""
    (loop or asyncio.get_running_loop()).set_exception_handler(log_loop_exception)


def install_exception_hooks() -> None:
    """Log uncaught exceptions (main thread, other threads, "Exception ignored in") instead of
    printing their tracebacks. Only over the interpreter's own hooks: one somebody else
    installed (a test runner's, an error reporter's) is left in place."""
    if sys.excepthook in (sys.__excepthook__, _log_excepthook):
        sys.excepthook = _log_excepthook
    if threading.excepthook in (threading.__excepthook__, _log_thread_exception):
        threading.excepthook = _log_thread_exception
    if sys.unraisablehook in (sys.__unraisablehook__, _log_unraisable):
        sys.unraisablehook = _log_unraisable


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog, the standard library's logging (FastStream, uvicorn, nats-py...),
    warnings and uncaught exceptions through one renderer (JSON unless fmt is "console").
    Called inside a running event loop (as serve() does), it also becomes that loop's
    exception handler unless the loop has one; log_loop_exceptions(loop) sets it on any."""
    global _service
    _service = service
    shared: Iterable[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _Handler(service, json_lines=fmt == "json")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[add_faststream_context, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _adopt_console_loggers()
    logging.captureWarnings(True)
    install_exception_hooks()
    with contextlib.suppress(RuntimeError):  # no running loop
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() in (None, log_loop_exception):
            log_loop_exceptions(loop)
    structlog.contextvars.bind_contextvars(service=service)
