"""How `make test` spreads the suite over its pytest-xdist workers.

Each test module goes to one worker as a whole (module-scoped fixtures stay shared), except two
groups that go to one worker together, in collection order:

- `heavy`: tests that run many processes or a long burst; one at a time, so no two of them
  compete for the machine's cores;
- `fuzz`: its last test counts the inputs the whole fuzz suite sent, in one process.

Hand-written because pytest-xdist's own `xdist_group` mark does not reach pytest 9's node ids
(it renames `item._nodeid`, which pytest 9 no longer reads), so the groups are named by path.
"""

from __future__ import annotations

import pytest

GROUPS: dict[str, tuple[str, ...]] = {
    "heavy": (
        "tests/chaos/test_chaos.py",
        "tests/e2e/test_scale_out.py",
        "tests/e2e/test_default_postgres.py",
        "tests/e2e/test_loop.py::test_a_burst_of_100_emails_all_complete",
        "tests/deploy/test_images.py",
        "tests/bench/",
        "tools/cli/tests/test_dev.py",
    ),
    "fuzz": ("tests/fuzz/",),
}


def group_of(nodeid: str) -> str | None:
    for group, prefixes in GROUPS.items():
        if nodeid.startswith(prefixes):
            return group
    return None


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist not installed: the suite runs in one process
    pass
else:

    class GroupedScheduling(LoadScopeScheduling):
        """A work unit per test module, or per group for the tests in `GROUPS`."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or super()._split_scope(nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(config: pytest.Config, log) -> GroupedScheduling:
        return GroupedScheduling(config, log)
