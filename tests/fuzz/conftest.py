"""Fixtures of the fuzz suite: the ingest app (by its own bootstrap) and the projector's API,
in process over ASGI, on one real migrated database for the whole module.

The ingest harness and signing helpers are the security suite's (`security_testing`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).parent.parent / "security"))
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="module")
def quiet_logs() -> Iterator[None]:
    """Thousands of refusals would each print a line; only warnings and errors are kept."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)
