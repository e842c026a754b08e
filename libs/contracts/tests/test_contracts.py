import json

import pytest
from pydantic import ValidationError

from figsync_contracts import (
    EVENT_TYPES,
    JobFailed,
    JobIgnored,
    comment_job_id,
    email_job_id,
    new_envelope,
    parse_event,
    subject_for,
)
from figsync_contracts.schemas import (
    PUBLISHED_DIR,
    SCHEMA_DIR,
    breaking_changes,
    generated_schemas,
    render,
)

pytestmark = pytest.mark.unit


def test_committed_schemas_match_the_models():
    stale = [
        name
        for name, schema in generated_schemas().items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != render(schema)
    ]
    assert not stale, f"run `make schemas` and commit: {stale}"


def test_every_current_version_is_published():
    missing = [n for n in generated_schemas() if not (PUBLISHED_DIR / n).exists()]
    assert not missing, f"run `make schemas` to publish: {missing}"


def test_no_breaking_change_to_a_published_version():
    current = generated_schemas()
    problems = {}
    for frozen in PUBLISHED_DIR.glob("*.json"):
        if frozen.name in current:
            found = breaking_changes(json.loads(frozen.read_text()), current[frozen.name])
            if found:
                problems[frozen.name] = found
    assert not problems, f"publish a new version instead of changing these: {problems}"


def test_breaking_change_detection_catches_removed_required_and_retyped_fields():
    old = JobFailed.model_json_schema()
    new = json.loads(json.dumps(old))
    del new["properties"]["attempts"]
    new["properties"]["code"] = {"type": "integer"}
    new["properties"]["severity"] = {"type": "string"}
    new["required"].append("severity")
    found = "\n".join(breaking_changes(old, new))
    assert "$.attempts: field removed" in found
    assert "$.code: no longer accepts string" in found
    assert "$.severity: newly required" in found


def test_narrowing_an_enum_is_breaking_and_widening_is_not():
    old = JobIgnored.model_json_schema()
    narrowed = json.loads(json.dumps(old))
    narrowed["properties"]["reason"]["enum"] = ["not_comment_email"]
    assert breaking_changes(old, narrowed)
    widened = json.loads(json.dumps(old))
    widened["properties"]["reason"]["enum"].append("new_reason")
    assert breaking_changes(old, widened) == []


def test_adding_an_optional_field_is_compatible():
    old = JobIgnored.model_json_schema()
    new = json.loads(json.dumps(old))
    new["properties"]["note"] = {"type": "string", "default": ""}
    assert breaking_changes(old, new) == []


def test_events_are_frozen_and_refuse_unknown_fields():
    event = JobIgnored(reason="duplicate_comment")
    with pytest.raises(ValidationError):
        event.reason = "not_comment_email"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        JobIgnored(reason="duplicate_comment", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        JobIgnored(reason="because")  # type: ignore[arg-type]


def test_type_names_are_versioned_and_subjects_follow_them():
    assert JobFailed.type == "figsync.job_failed.v1"
    assert subject_for(JobFailed.type) == "figsync.events.job_failed.v1"
    assert all(t.startswith("figsync.") and t.endswith(".v1") for t in EVENT_TYPES)


def test_envelope_round_trips_and_carries_cloudevents_attributes():
    cause = new_envelope(
        JobIgnored(reason="duplicate_comment"), stream_id="job-1", team="acme", source="/x"
    )
    effect = new_envelope(
        JobFailed(step="figma", code="figma.comment_not_found", message="m", attempts=1),
        stream_id="job-1",
        team="acme",
        source="/services/figma",
        causation=cause,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    wire = json.loads(effect.model_dump_json())
    for key in ("id", "source", "type", "specversion", "time", "subject", "datacontenttype"):
        assert key in wire
    assert wire["subject"] == "job-1" and wire["correlationid"] == "job-1"
    assert wire["causationid"] == cause.id
    assert parse_event(wire["type"], wire["data"]) == effect.event()


def test_job_ids_are_derived_from_the_source():
    assert email_job_id("t", "<abc@figma.com>") == email_job_id("t", "ABC@figma.com")
    assert email_job_id("t", "a@x") != email_job_id("u", "a@x")
    assert comment_job_id("t", "FILE", "1") == comment_job_id("t", "FILE", "1")
    assert comment_job_id("t", "FILE", "1") != comment_job_id("t", "FILE", "2")
