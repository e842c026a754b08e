"""`python -m figsync_sandbox`: serve the three sandboxes until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from figsync_sandbox.servers import Sandbox, SandboxConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="figsync sandbox",
        description="Local Figma, Notion and Anthropic API servers with fault injection.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--figma-port", type=int, help="0 picks a free port")
    parser.add_argument("--notion-port", type=int, help="0 picks a free port")
    parser.add_argument("--anthropic-port", type=int, help="0 picks a free port")
    parser.add_argument("--seed", type=int, help="seed for ids and fault injection")
    parser.add_argument("--figma-webhook-url", help="where FILE_COMMENT webhooks are sent")
    return parser.parse_args(argv)


async def run(sandbox: Sandbox, out: object = sys.stdout) -> None:
    """Serve until a signal arrives, printing one line per server once listening."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sandbox.request_stop)
    task = asyncio.create_task(sandbox.serve())
    while not (sandbox._servers and all(s.started for s in sandbox._servers)):
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    for name in ("figma", "notion", "anthropic"):
        print(f"sandbox {name}: {sandbox.url(name)}", file=out, flush=True)  # type: ignore[call-overload]
    await task


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ports from arguments, else FIGSYNC_SANDBOX_*_PORT, else free ports."""
    args = parse_args(argv)
    try:
        config = SandboxConfig.from_env(
            host=args.host,
            figma_port=args.figma_port,
            notion_port=args.notion_port,
            anthropic_port=args.anthropic_port,
            seed=args.seed,
            figma_webhook_url=args.figma_webhook_url,
        )
        sandbox = Sandbox(config)
        asyncio.run(run(sandbox))
    except (OSError, ValueError) as exc:
        print(f"figsync sandbox: {exc}", file=sys.stderr)
        return 2
    return 0
