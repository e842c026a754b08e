"""In one process: the libraries' loggers (FastStream, uvicorn, nats-py, asyncio), warnings and
uncaught exceptions each come out as one JSON line through configure_logging's renderer."""

import asyncio
import gc
import json
import logging
import sys
import threading
import warnings

import pytest

from figsync_runtime.logs import configure_logging, log_loop_exceptions, redact

pytestmark = pytest.mark.unit


@pytest.fixture
def hooks_as_in_a_process(monkeypatch):
    """The interpreter's own exception hooks (pytest installs its own), restored afterwards
    together with the root logger and the warnings capture."""
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def json_records(capsys) -> list[dict]:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    records = [json.loads(line) for line in lines]
    assert all(r["service"] == "notifier" and "level" in r for r in records), records
    return records


def test_library_loggers_and_warnings_are_one_json_line_each(capsys, hooks_as_in_a_process):
    # As FastStream sets up its logger at import: a handler of its own, not propagating.
    faststream = logging.getLogger("faststream")
    faststream.addHandler(logging.StreamHandler(sys.stderr))
    faststream.propagate = False
    configure_logging("notifier", "INFO", "json")
    logging.getLogger("faststream").info("FastStream app starting...")
    logging.getLogger("faststream.access.nats").info(
        "Received", extra={"subject": "figsync.events.task_created.*", "stream": "FIGSYNC",
                           "queue": "", "message_id": "m-1"},
    )  # fmt: skip
    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /readyz HTTP/1.1" 200')
    logging.getLogger("nats.aio.client").error(
        "nats: encountered error", exc_info=TimeoutError("nats: timeout")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # pytest's own capture of warnings replaced configure_logging's: capture them again
        logging.captureWarnings(False)
        logging.captureWarnings(True)
        warnings.warn("token=abcdef123456 is deprecated", DeprecationWarning, stacklevel=1)

    records = json_records(capsys)
    assert [r["logger"] for r in records] == [
        "faststream", "faststream.access.nats", "uvicorn.error", "uvicorn.access",
        "nats.aio.client", "py.warnings",
    ]  # fmt: skip
    received = records[1]
    assert (received["event"], received["subject"], received["message_id"]) == (
        "Received", "figsync.events.task_created.*", "m-1",
    )  # fmt: skip
    assert "queue" not in received  # FastStream's empty fields are left out
    assert "Traceback" in records[2]["exception"] and "peer went away" in records[2]["exception"]
    assert "TimeoutError: nats: timeout" in records[4]["exception"]
    assert "abcdef123456" not in records[5]["event"]  # redacted like any other line
    assert records[5]["level"] == "warning"


def test_uncaught_exceptions_are_one_json_line_each(capsys, hooks_as_in_a_process):
    configure_logging("notifier", "INFO", "json")

    try:
        raise RuntimeError("main thread died")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())

    def crash() -> None:
        raise ValueError("worker died")

    worker = threading.Thread(target=crash, name="worker-1")
    worker.start()
    worker.join()

    class Broken:
        def __del__(self) -> None:
            raise KeyError("in __del__")

    Broken()
    gc.collect()

    async def failing() -> None:
        raise LookupError("nobody awaited me")

    async def orphan_a_task() -> None:
        task = asyncio.get_running_loop().create_task(failing())
        await asyncio.sleep(0.01)
        del task
        gc.collect()  # "Task exception was never retrieved"

    loop = asyncio.new_event_loop()
    log_loop_exceptions(loop)
    try:
        loop.run_until_complete(orphan_a_task())
    finally:
        loop.close()

    records = json_records(capsys)
    by_event = {r["event"]: r for r in records}
    assert len(records) == 4, records
    main = by_event["uncaught exception"]
    assert main["level"] == "critical" and "RuntimeError: main thread died" in main["exception"]
    thread = by_event["uncaught exception in thread"]
    assert thread["thread"] == "worker-1" and "ValueError: worker died" in thread["exception"]
    [unraisable] = [r for r in records if r["event"].startswith("Exception ignored in")]
    assert "KeyError: 'in __del__'" in unraisable["exception"] and "Broken" in unraisable["object"]
    never_retrieved = by_event["Task exception was never retrieved"]
    assert never_retrieved["level"] == "error" and "failing" in never_retrieved["future"]
    assert "LookupError: nobody awaited me" in never_retrieved["exception"]
    assert all(r["logger"] == "figsync.uncaught" for r in records)


def test_configure_logging_leaves_hooks_it_did_not_replace_in_place(hooks_as_in_a_process):
    def reporter(*args) -> None:
        pass

    sys.excepthook = reporter
    configure_logging("notifier", "INFO", "json")
    assert sys.excepthook is reporter
    assert threading.excepthook is not threading.__excepthook__


def test_error_codes_in_tracebacks_survive_redaction_and_notion_tokens_do_not():
    message = "SettingsError: settings.secret_key_missing: FIGSYNC_SECRET_KEY is required"
    assert redact(message) == message
    assert "Abc123" not in redact("notion said no to secret_Abc123" + "x" * 37)
