"""Test hooks: the few points where a test reaches into a running process.

A crash test must stop a process at a precise moment (a page created in Notion, a reply
posted in Figma, events published but not yet marked, a projection batch half written); the
chaos test moves every process's clock forward; local sandboxes serve plain http on private
addresses. Production code never reads a test setting: a composition root receives these
hooks, only the test kit's runner (`python -m figsync_testkit.run MODULE`) installs them, and a
service refuses to start outside development with any of them set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from figsync_runtime.steps import Clock


def _nothing(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """What a test may inject; the defaults do nothing."""

    # Replaces the system clock of step runners and resumers (deferred jobs come due).
    clock: Clock | None = None
    # Called once Notion created a task page, before TaskCreated is recorded.
    notion_after_create: Callable[[], None] = _nothing
    # Called once Figma accepted the confirmation reply, before it is recorded.
    notifier_after_reply: Callable[[], None] = _nothing
    # Called once a relay batch is published, before its position is marked.
    relay_after_publish: Callable[[], None] = _nothing
    # Called with a projection batch's last position once it is written, before it commits.
    projector_in_batch: Callable[[int], None] = _nothing
    # host:port pairs that may be reached over plain http on a private address (a local
    # sandbox): tracking links and Slack webhooks.
    insecure_hosts: frozenset[str] = field(default_factory=frozenset)

    @property
    def active(self) -> list[str]:
        """The names of the hooks set (a service refuses them outside development)."""
        found = [f.name for f in fields(self) if callable(getattr(self, f.name))
                 and getattr(self, f.name) is not _nothing]  # fmt: skip
        if self.clock is not None:
            found.append("clock")
        if self.insecure_hosts:
            found.append("insecure_hosts")
        return sorted(found)


NO_HOOKS = Hooks()
_installed: Hooks = NO_HOOKS


def install(hooks: Hooks) -> None:
    """Used by the test kit's runner only, before the service's entry point runs."""
    global _installed
    _installed = hooks


def installed() -> Hooks:
    """The hooks the service host hands to a composition root (none in production)."""
    return _installed
