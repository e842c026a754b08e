"""Test hooks for figsync processes, from FIGSYNC_TESTKIT_* variables (read here, never by
production code): crash points that write a marker file and freeze the process until the test
SIGKILLs it, a clock the test moves forward, local http hosts. `python -m figsync_testkit.run
MODULE` installs them before the service's entry point runs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from figsync_runtime.hooks import Hooks

PREFIX = "FIGSYNC_TESTKIT_"


class OffsetClock:
    """The system time plus the seconds written in a file, so that a test can move the clock
    of every process forward at once (deferred jobs then come due)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def offset(self) -> float:
        try:
            with open(self.path) as file:
                return float(file.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())


def freeze_once(marker: str, at: Callable[[], bool] = lambda: True) -> Callable[[], None]:
    """A crash point: the first time it is reached (and `at()` holds) it writes `marker` and
    blocks the whole process, as a crash would freeze it; the test SIGKILLs it there."""

    def freeze() -> None:
        if os.path.exists(marker) or not at():
            return
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)

    return freeze


def hooks_from_env(env: Mapping[str, str]) -> Hooks:
    """The hooks the FIGSYNC_TESTKIT_* variables ask for."""

    def get(name: str) -> str:
        return env.get(PREFIX + name, "").strip()

    options: dict = {}
    if path := get("CLOCK_OFFSET_FILE"):
        options["clock"] = OffsetClock(path)
    if marker := get("NOTION_HANG_AFTER_CREATE"):
        # The n-th page created (a job with several tasks makes one page each).
        created, nth = [0], int(get("NOTION_HANG_AFTER_CREATE_COUNT") or 1)
        freeze_page = freeze_once(marker, lambda: created[0] >= nth)

        def after_create() -> None:
            created[0] += 1
            freeze_page()

        options["notion_after_create"] = after_create
    if marker := get("NOTIFIER_HANG_AFTER_REPLY"):
        options["notifier_after_reply"] = freeze_once(marker)
    if marker := get("RELAY_HANG_AFTER_PUBLISH"):
        options["relay_after_publish"] = freeze_once(marker)
    if marker := get("PROJECTOR_HANG_IN_BATCH"):
        after = int(get("PROJECTOR_HANG_AFTER_POSITION") or 0)

        def in_batch(position: int) -> None:
            freeze_once(marker, lambda: position >= after)()

        options["projector_in_batch"] = in_batch
    if hosts := get("INSECURE_HOSTS"):
        options["insecure_hosts"] = frozenset(h.strip() for h in hosts.split(",") if h.strip())
    return Hooks(**options)
