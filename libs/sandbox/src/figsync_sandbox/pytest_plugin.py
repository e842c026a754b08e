"""Pytest fixtures: `sandbox` (session, servers running) and `sandbox_api` (reset per test).

In a test of any package::

    async def test_creates_one_page(sandbox_api):
        client = notion_client.AsyncClient(auth=sandbox_api.notion_token,
                                           base_url=sandbox_api.notion_url)
        ...
        assert len(sandbox_api.notion.created_pages()) == 1
        sandbox_api.notion.faults.inject("POST /v1/pages", status=529, times=1)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from figsync_sandbox.servers import Sandbox, SandboxConfig


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The three sandbox servers, started once per session in a background thread."""
    with Sandbox(SandboxConfig.from_env(figma_port=0, notion_port=0, anthropic_port=0)) as sb:
        yield sb


@pytest.fixture
def sandbox_api(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The session sandbox, reset to its default data with no faults, for one test."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()
