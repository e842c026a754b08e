import json
import logging

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from figsync_runtime.logs import configure_logging, redact, register_secret

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("mail from anna.smith+design@figma-example.com", "anna.smith+design"),
        ("X-Figma-Token: figd_abcdefghijklmnop", "figd_abcdefghijklmnop"),
        ("Authorization: Bearer ntn_abcdefghijklmnop12", "ntn_abcdefghijklmnop12"),
        ("key sk-ant-api03-abcdefghijklmnop", "abcdefghijklmnop"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ('{"passcode": "hunter2hunter2"}', "hunter2hunter2"),
        ("token=abc123def456", "abc123def456"),
    ],
)
def test_emails_and_tokens_are_redacted(text, leak):
    assert leak not in redact(text)


def test_a_registered_secret_is_redacted_whatever_its_shape():
    register_secret("plain-looking-value-42")
    assert "plain-looking-value-42" not in redact("value was plain-looking-value-42!")


def test_log_lines_are_json_with_trace_id_and_job_id(capsys):
    configure_logging("figma", "INFO", "json")
    tracer = TracerProvider().get_tracer("t")
    structlog.contextvars.bind_contextvars(job_id="job-42")
    try:
        with tracer.start_as_current_span("work") as span:
            structlog.get_logger("x").info("resolved", author="ana@example.com")
            logging.getLogger("stdlib").info("also json")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        structlog.contextvars.unbind_contextvars("job_id")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["event"] for line in lines] == ["resolved", "also json"]
    for line in lines:
        assert line["trace_id"] == trace_id and line["job_id"] == "job-42"
        assert line["service"] == "figma"
    assert lines[0]["author"] == "***@example.com"
