"""`python -m figsync_testkit.run MODULE`: run a figsync process with the test hooks that its
FIGSYNC_TESTKIT_* variables ask for (the only place hooks are installed)."""

from __future__ import annotations

import os
import runpy
import sys

from figsync_runtime.hooks import install
from figsync_testkit.hooks import hooks_from_env


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m figsync_testkit.run MODULE [ARGS...]")
    module, sys.argv = sys.argv[1], sys.argv[1:]
    install(hooks_from_env(os.environ))
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
