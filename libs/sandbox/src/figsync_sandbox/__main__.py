"""Run the sandbox: `python -m figsync_sandbox`."""

import sys

from figsync_sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
