"""The sandbox APIs in a process of their own, so that serving them does not compete with the
load generator for one interpreter (at 100 jobs/s the sandbox answers ~700 requests/s).

    python bench/sandbox_proc.py --emails DIR --count N --tag T

Seeds N Figma files with one comment mentioning @Anna Smith each, writes each comment's
notification email (RFC 822) to DIR/NNNNNNNN.eml, lifts the rate limits, prints one JSON line
with the URLs and credentials, and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from pathlib import Path

from figsync_sandbox.cli import run
from figsync_sandbox.emails import comment_email_message
from figsync_sandbox.servers import Sandbox, SandboxConfig
from figsync_testkit.system import lift_sandbox_limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=Path)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--tag", default="P")
    args = parser.parse_args()
    sandbox = Sandbox(SandboxConfig())
    lift_sandbox_limits(sandbox)
    figma = sandbox.figma
    for n in range(args.count):
        key = f"Bench{args.tag}{n:08d}Key"
        figma.add_file(key, f"Bench file {n}")
        comment = figma.add_comment(key, f"@Anna Smith please check item {n} of the spacing")
        message = comment_email_message(figma, key, comment.id)
        (args.emails / f"{n:08d}.eml").write_bytes(message.as_bytes())

    async def serve() -> None:
        task = asyncio.create_task(run(sandbox, out=io.StringIO()))
        while not (sandbox._servers and all(s.started for s in sandbox._servers)):
            await asyncio.sleep(0.01)
        print(json.dumps({
            "figma_url": sandbox.figma_url, "notion_url": sandbox.notion_url,
            "anthropic_url": sandbox.anthropic_url, "figma_token": sandbox.figma_token,
            "notion_token": sandbox.notion_token, "anthropic_key": sandbox.anthropic_key,
        }), flush=True)  # fmt: skip
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
