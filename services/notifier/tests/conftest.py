import sys
from pathlib import Path

# Test helpers live beside the tests (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

import pytest
from notifier_support import FakeSlack


@pytest.fixture(scope="session")
def slack_server():
    """A real HTTP server standing in for Slack's incoming webhook (session-wide)."""
    with FakeSlack() as server:
        yield server


@pytest.fixture
def slack(slack_server):
    """The fake Slack webhook, answering "ok" with nothing recorded, for one test."""
    slack_server.reset()
    yield slack_server
    slack_server.reset()
