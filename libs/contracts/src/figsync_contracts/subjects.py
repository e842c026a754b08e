"""NATS subject naming: figsync.events.<event_name>.v<version>."""

import re

STREAM_SUBJECTS = ["figsync.>"]
_PREFIX = "figsync.events"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def type_name(event_name: str, version: int) -> str:
    """The versioned type name of an event, e.g. figsync.email_received.v1."""
    return f"figsync.{_snake(event_name)}.v{version}"


def subject_for(event_type: str) -> str:
    """The subject an event of this versioned type is published on."""
    _, name, version = event_type.split(".")
    return f"{_PREFIX}.{name}.{version}"


def subject_filter(event_type: str) -> str:
    """The filter subject a consumer uses for one event type (any version)."""
    _, name, _ = event_type.split(".")
    return f"{_PREFIX}.{name}.*"
